// Name formats of k8s.io/apimachinery/pkg/util/validation (validation.go): each check returns the
// API server's explanations, which callers wrap in a field error. The regexes and wording are the
// API server's (including the double space in "'my-name',  or 'abc-123'" that RegexError makes).
import { child, type FieldError, invalid, required } from "./messages.ts";
import { isJsonObject } from "./structural.ts";

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = `${DNS1123_LABEL}(\\.${DNS1123_LABEL})*`;
const WILDCARD_DNS1123_SUBDOMAIN = `\\*\\.${DNS1123_SUBDOMAIN}`;

const dns1123Label = new RegExp(`^${DNS1123_LABEL}$`);
const dns1123Subdomain = new RegExp(`^${DNS1123_SUBDOMAIN}$`);
const wildcardDns1123Subdomain = new RegExp(`^${WILDCARD_DNS1123_SUBDOMAIN}$`);

/** Length as Go's len(): bytes of UTF-8. */
function byteLength(value: string): number {
  return Buffer.byteLength(value, "utf8");
}

/** validation.MaxLenError. */
function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** validation.RegexError. */
function regexError(message: string, format: string, ...examples: string[]): string {
  if (examples.length === 0) return `${message} (regex used for validation is '${format}')`;
  let text = `${message} (e.g. `;
  examples.forEach((example, i) => {
    if (i > 0) text += " or ";
    text += `'${example}', `;
  });
  return `${text}regex used for validation is '${format}')`;
}

/** validation.IsDNS1123Label. */
export function isDNS1123Label(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > 63) errors.push(maxLenError(63));
  if (!dns1123Label.test(value)) {
    if (dns1123Subdomain.test(value)) errors.push("must not contain dots");
    else {
      errors.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          DNS1123_LABEL,
          "my-name",
          "123-abc",
        ),
      );
    }
  }
  return errors;
}

/** validation.IsDNS1123Subdomain. */
export function isDNS1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > 253) errors.push(maxLenError(253));
  if (!dns1123Subdomain.test(value)) {
    errors.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN,
        "example.com",
      ),
    );
  }
  return errors;
}

/** validation.IsWildcardDNS1123Subdomain. */
export function isWildcardDNS1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (byteLength(value) > 253) errors.push(maxLenError(253));
  if (!wildcardDns1123Subdomain.test(value)) {
    errors.push(
      regexError(
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
        WILDCARD_DNS1123_SUBDOMAIN,
        "*.example.com",
      ),
    );
  }
  return errors;
}

/** validation.IsValidPortNum. */
export function isValidPortNum(port: number): string[] {
  return port >= 1 && port <= 65535 ? [] : ["must be between 1 and 65535, inclusive"];
}

/** validation.IsValidPortName (IANA service names: lower case, at least one letter, no "--"). */
export function isValidPortName(port: string): string[] {
  const errors: string[] = [];
  if (byteLength(port) > 15) errors.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(port)) {
    errors.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  }
  if (!/[a-z]/.test(port)) errors.push("must contain at least one letter (a-z)");
  if (port.includes("--")) errors.push("must not contain consecutive hyphens");
  if (port.startsWith("-") || port.endsWith("-"))
    errors.push("must not begin or end with a hyphen");
  return errors;
}

/**
 * path.IsValidPathSegmentName: what a name must avoid to be usable in a URL path segment.
 */
export function isValidPathSegmentName(name: string): string[] {
  if (name === "." || name === "..") return [`may not be '${name}'`];
  const errors: string[] = [];
  for (const illegal of ["/", "%"]) {
    if (name.includes(illegal)) errors.push(`may not contain '${illegal}'`);
  }
  return errors;
}

/** NameIsDNSSubdomain with prefix=true: a generateName may end in "-". */
function validateGenerateName(prefix: string): string[] {
  return isDNS1123Subdomain(prefix.endsWith("-") ? prefix.slice(0, -1) : prefix);
}

/**
 * ValidateObjectMetaAccessor on create, for a namespaced kind whose names are DNS-1123
 * subdomains. An absent namespace is accepted: kubectl fills it in from the context.
 */
export function validateObjectMeta(metadata: unknown, path = "metadata"): FieldError[] {
  const meta = isJsonObject(metadata) ? metadata : {};
  const errors: FieldError[] = [];
  const name = typeof meta.name === "string" ? meta.name : "";
  const generateName = typeof meta.generateName === "string" ? meta.generateName : "";
  if (generateName !== "") {
    for (const msg of validateGenerateName(generateName)) {
      errors.push(invalid(child(path, "generateName"), generateName, msg));
    }
  }
  if (name === "") {
    // With generateName the API server generates the name before validating it.
    if (generateName === "")
      errors.push(required(child(path, "name"), "name or generateName is required"));
  } else {
    for (const msg of isDNS1123Subdomain(name))
      errors.push(invalid(child(path, "name"), name, msg));
  }
  const namespace = typeof meta.namespace === "string" ? meta.namespace : "";
  if (namespace !== "") {
    for (const msg of isDNS1123Label(namespace)) {
      errors.push(invalid(child(path, "namespace"), namespace, msg));
    }
  }
  return errors;
}
