// OpenAPI validation of a custom resource, worded as kube-openapi words it and converted to field
// errors as apiextensions-apiserver's validation.go (kubeOpenAPIResultToFieldErrors) converts it.
// Ajv does the checking; this module only translates its findings. Formats are not checked: the
// API server drops every format it does not support (int32, int64 and date-time among them).
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from "ajv";
import {
  type FieldError,
  goFloat,
  goQuote,
  invalid,
  isInt64,
  notSupported,
  required,
  tooLong,
  tooMany,
  typeInvalid,
} from "./messages.ts";
import { isJsonObject, type SchemaNode } from "./structural.ts";

/** Kubernetes extensions: annotations for ajv, acted on by the other admission passes. */
const KUBERNETES_KEYWORDS = [
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
];

/** A compiled schema: validate(value) lists kube-openapi's findings as field errors. */
export type OpenAPIValidator = (value: unknown) => FieldError[];

/** Compiles a structural schema once; the returned function is reused for every object. */
export function compileOpenAPIValidator(schema: SchemaNode): OpenAPIValidator {
  const ajv = new Ajv({
    allErrors: true,
    validateFormats: false,
    strict: true,
    strictTypes: false,
  });
  ajv.addVocabulary(KUBERNETES_KEYWORDS);
  const validate: ValidateFunction = ajv.compile(schema as SchemaObject);
  return (value) => {
    if (validate(value)) return [];
    return translate(validate.errors ?? [], value);
  };
}

/** Ajv errors → kube-openapi's errors, converted to field errors. */
function translate(ajvErrors: readonly ErrorObject[], root: unknown): FieldError[] {
  // kube-openapi's string validator stops at the first of maxLength, minLength, pattern.
  const stringFailures = new Map<string, string>();
  for (const error of ajvErrors) {
    if (!STRING_KEYWORDS.includes(error.keyword)) continue;
    const first = stringFailures.get(error.instancePath);
    if (first === undefined || rank(error.keyword) < rank(first)) {
      stringFailures.set(error.instancePath, error.keyword);
    }
  }
  const errors: FieldError[] = [];
  for (const error of ajvErrors) {
    if (STRING_KEYWORDS.includes(error.keyword)) {
      if (stringFailures.get(error.instancePath) !== error.keyword) continue;
    }
    const located = locate(root, error.instancePath);
    const converted = convert(error, located.path, located.value);
    if (converted) errors.push(converted);
  }
  return errors;
}

const STRING_KEYWORDS = ["maxLength", "minLength", "pattern"];

function rank(keyword: string): number {
  return STRING_KEYWORDS.indexOf(keyword);
}

/** One ajv error as the field error the API server would print. */
function convert(error: ErrorObject, path: string, value: unknown): FieldError | undefined {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required": {
      const missing = String(params.missingProperty);
      return required(path === "" ? missing : `${path}.${missing}`);
    }
    case "type": {
      const actual = jsonType(value);
      const expected = String(params.type);
      return typeInvalid(
        path,
        actual,
        `${path} in body must be of type ${expected}: ${goQuote(actual)}`,
      );
    }
    case "enum": {
      const allowed = (params.allowedValues as readonly unknown[]) ?? [];
      return notSupported(
        path,
        value,
        allowed.map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
      );
    }
    case "maxLength":
      return tooLong(path, Number(params.limit));
    case "minLength":
      return invalid(
        path,
        value,
        `${path} in body should be at least ${Number(params.limit)} chars long`,
      );
    case "pattern":
      return invalid(path, value, `${path} in body should match '${String(params.pattern)}'`);
    case "maximum":
    case "minimum": {
      const limit = Number(params.limit);
      // An int64 value is compared, and the bound printed, as an int64; a float64 with %v.
      const bound =
        typeof value === "number" && isInt64(value) ? String(Math.trunc(limit)) : goFloat(limit);
      const relation =
        error.keyword === "maximum" ? "less than or equal to" : "greater than or equal to";
      return invalid(path, value, `${path} in body should be ${relation} ${bound}`);
    }
    case "minItems": {
      const size = Array.isArray(value) ? value.length : 0;
      return invalid(
        path,
        size,
        `${path} in body should have at least ${Number(params.limit)} items`,
      );
    }
    case "maxItems":
      return tooMany(path, Array.isArray(value) ? value.length : -1, Number(params.limit));
    case "maxProperties":
      return tooMany(
        path,
        isJsonObject(value) ? Object.keys(value).length : -1,
        Number(params.limit),
      );
    case "minProperties":
      return invalid(
        path,
        isJsonObject(value) ? Object.keys(value).length : 0,
        `${path} in body should have at least ${Number(params.limit)} properties`,
      );
    case "uniqueItems":
      return invalid(path, "", `${path} in body shouldn't contain duplicates`);
    case "multipleOf":
      return invalid(
        path,
        value,
        `${path} in body should be a multiple of ${goFloat(Number(params.multipleOf))}`,
      );
    default:
      // Keywords a structural schema cannot use reach here only through a schema bug.
      return invalid(path, "", `${path} ${error.message ?? "is invalid"}`);
  }
}

/** The JSON type name kube-openapi gives a decoded value. */
function jsonType(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return isInt64(value) ? "integer" : "number";
  if (typeof value === "boolean") return "boolean";
  return typeof value;
}

/** Ajv's JSON pointer as a field path ("/spec/targetRefs/0/name" → "spec.targetRefs[0].name"). */
function locate(root: unknown, pointer: string): { path: string; value: unknown } {
  let path = "";
  let value = root;
  if (pointer === "") return { path, value };
  for (const raw of pointer.slice(1).split("/")) {
    const segment = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(value)) {
      path += `[${segment}]`;
      value = value[Number(segment)];
    } else {
      path = path === "" ? segment : `${path}.${segment}`;
      value = isJsonObject(value) ? value[segment] : undefined;
    }
  }
  return { path, value };
}
