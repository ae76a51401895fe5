// Command-line options shared by the commands that run the compiler, and their translation into
// CompilerOptions. One definition here keeps `check` and `compile` answering the same question.
import { defaultCompilerOptions } from "../operator/compiler/compile.ts";
import type { CompilerOptions } from "../operator/compiler/types.ts";
import type { OptionSpec } from "./args.ts";
import { InvalidOptionValueError } from "./errors.ts";
import { DEFAULT_NAMESPACE } from "./input.ts";

/** Options that shape the compilation, for both `check` and `compile`. */
export const compilerOptionSpecs = {
  now: { type: "string" },
  "ingress-class": { type: "string" },
  "controller-namespace": { type: "string" },
  "default-certificate": { type: "string" },
  namespace: { type: "string", short: "n" },
} as const satisfies Record<string, OptionSpec>;

/** Help lines of compilerOptionSpecs, aligned like the rest of a usage text, with the compiler's defaults. */
export function compilerOptionsHelp(): string {
  const defaults = defaultCompilerOptions(new Date(0));
  return [
    `  -n, --namespace NS            Namespace of objects that set none (default "${DEFAULT_NAMESPACE}")`,
    "      --now TIME                Time certificates are checked against, ISO 8601 (default: now)",
    `      --ingress-class NAME      IngressClass the controller serves (default "${defaults.ingressClassName}")`,
    `      --controller-namespace NS Namespace the controller runs in; only there may a policy target`,
    `                                the IngressClass (default "${defaults.controllerNamespace}")`,
    "      --default-certificate NS/NAME",
    "                                TLS Secret served when SNI matches no host (default: none)",
  ].join("\n");
}

/** Values of the shared options as parseArgs returns them. */
export interface CompilerOptionValues {
  now?: string | undefined;
  "ingress-class"?: string | undefined;
  "controller-namespace"?: string | undefined;
  "default-certificate"?: string | undefined;
  namespace?: string | undefined;
  "secrets-dir"?: string | undefined;
}

const ISO_8601 =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * CompilerOptions from the shared options: the compiler's defaults at `--now` (or `clock()`), with
 * each option given on the command line in place of its default.
 */
export function buildCompilerOptions(
  values: CompilerOptionValues,
  command: string,
  clock: () => Date = () => new Date(),
): CompilerOptions {
  const now = values.now === undefined ? clock() : parseTime(values.now, command);
  const options = defaultCompilerOptions(now);
  if (values["ingress-class"] !== undefined) {
    options.ingressClassName = nonEmpty("ingress-class", values["ingress-class"], command);
  }
  if (values["controller-namespace"] !== undefined) {
    options.controllerNamespace = namespaceName(
      "controller-namespace",
      values["controller-namespace"],
      command,
    );
  }
  if (values["secrets-dir"] !== undefined) {
    options.secretsDir = nonEmpty("secrets-dir", values["secrets-dir"], command);
  }
  if (values["default-certificate"] !== undefined) {
    const value = values["default-certificate"];
    const [namespace, name, ...rest] = value.split("/");
    if (!namespace || !name || rest.length > 0) {
      throw new InvalidOptionValueError(
        "default-certificate",
        value,
        "expected NAMESPACE/NAME of a kubernetes.io/tls Secret",
        command,
      );
    }
    options.defaultCertificate = value;
  }
  return options;
}

/** The namespace given to objects that set none. */
export function defaultNamespaceOf(values: CompilerOptionValues, command: string): string {
  return values.namespace === undefined
    ? DEFAULT_NAMESPACE
    : namespaceName("namespace", values.namespace, command);
}

function parseTime(value: string, command: string): Date {
  const date = new Date(value);
  if (!ISO_8601.test(value) || Number.isNaN(date.getTime())) {
    throw new InvalidOptionValueError(
      "now",
      value,
      "expected an ISO 8601 time such as 2030-01-01T00:00:00Z",
      command,
    );
  }
  return date;
}

function nonEmpty(option: string, value: string, command: string): string {
  if (value === "") throw new InvalidOptionValueError(option, value, "must not be empty", command);
  return value;
}

function namespaceName(option: string, value: string, command: string): string {
  if (!DNS_LABEL.test(value) || value.length > 63) {
    throw new InvalidOptionValueError(
      option,
      value,
      "expected a namespace name (a DNS label)",
      command,
    );
  }
  return value;
}
