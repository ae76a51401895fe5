// OpenAPI validation of a custom resource, worded as kube-openapi words it and converted to field
// errors as apiextensions-apiserver's validation.go (kubeOpenAPIResultToFieldErrors) converts it.
// Ajv does most of the checking and this module translates its findings; values of integer and
// number fields are checked here instead (validateNumbers), because kube-openapi's type and range
// checks for them depend on the field's format and on whether the JSON number decoded as an int64
// or a float64, which Ajv knows nothing of. The API server keeps int32 and int64 on integers and
// float and double on numbers (formats.go, StripUnsupportedFormatsPostProcessorForVersion); string
// formats such as date-time are not checked here: only status uses one, and status is dropped on
// create before validation.
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from "ajv";
import {
  child,
  type FieldError,
  goFloat,
  goQuote,
  index,
  invalid,
  isInt64,
  notSupported,
  required,
  tooLong,
  tooMany,
  typeInvalid,
} from "./messages.ts";
import { isJsonObject, propertySchema, type SchemaNode } from "./structural.ts";

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
    const errors = validate(value) ? [] : translate(validate.errors ?? [], value);
    return [...errors, ...validateNumbers(value, schema)];
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
    if (error.keyword === "type" && NUMERIC_TYPES.has(String(error.params.type))) continue;
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

/** Schema types whose values validateNumbers checks (Ajv's type errors for them are dropped). */
const NUMERIC_TYPES: ReadonlySet<string> = new Set(["integer", "number"]);

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

/**
 * The format kube-openapi infers from a decoded value's Go type (type.go, schemaInfoForType):
 * "int64" for an int64, "float64" for a float64, none for anything else.
 */
function goFormat(value: unknown): string {
  if (typeof value !== "number") return "";
  return isInt64(value) ? "int64" : "float64";
}

/** The format the API server keeps on an integer or number field, or "". */
function numericFormat(schema: SchemaNode): string {
  const format = schema.format ?? "";
  if (schema.type === "integer") return format === "int32" || format === "int64" ? format : "";
  if (schema.type === "number") return format === "float" || format === "double" ? format : "";
  return "";
}

/**
 * kube-openapi's checks of the values of integer and number fields, at any depth: the type
 * validator (type.go) and the range check of the number validator (validator.go,
 * IsValueValidAgainstRange). Other types are left to Ajv.
 */
function validateNumbers(value: unknown, schema: SchemaNode | undefined, path = ""): FieldError[] {
  if (schema === undefined || value === null || value === undefined) return [];
  if (schema.type !== undefined && NUMERIC_TYPES.has(schema.type)) {
    return checkNumericField(value, schema, path);
  }
  const errors: FieldError[] = [];
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      errors.push(...validateNumbers(item, schema.items, index(path, i)));
    }
  } else if (isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      errors.push(...validateNumbers(item, propertySchema(schema, name), child(path, name)));
    }
  }
  return errors;
}

function checkNumericField(value: unknown, schema: SchemaNode, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const expected = schema.type ?? "";
  const format = numericFormat(schema);
  const actual = jsonType(value);
  const actualFormat = goFormat(value);
  const floatInt =
    actual === "number" && expected === "integer" && isFloat64AJSONInteger(value as number);
  const intFloat = actual === "integer" && expected === "number";
  const accepted = expected === actual || floatInt || intFloat;
  // A value that is neither a string nor an array is held to the format first: a float64 in an
  // int32 field is 'must be of type int32: "float64"', a boolean 'must be of type int32: ""'.
  if (
    format !== "" &&
    typeof value !== "string" &&
    !Array.isArray(value) &&
    !(accepted || actualFormat === format)
  ) {
    const detail = `${path} in body must be of type ${format}: ${goQuote(actualFormat)}`;
    errors.push(typeInvalid(path, actualFormat, detail));
  } else if (!accepted) {
    errors.push(
      typeInvalid(path, actual, `${path} in body must be of type ${expected}: ${goQuote(actual)}`),
    );
  }
  // The number validator runs on every JSON number, whatever the type validator said.
  if (typeof value === "number" && !fitsFormat(value, expected, format)) {
    const type =
      format !== "" ? `${expected} with format ${format}` : `${expected} (default format)`;
    errors.push(invalid("", "", `Checked value must be of type ${type} in ${path}`));
  }
  return errors;
}

/**
 * IsValueValidAgainstRange: whether the value, printed as Go prints it (a float64 with
 * strconv's 'f' format), parses as the field's type and format. An integer field (int64 when
 * no format is given) takes no fraction and no value out of range, and a float64 decoded from
 * JSON is never an in-range integer; a float field takes what float32 can hold; double takes any.
 */
function fitsFormat(value: number, type: string, format: string): boolean {
  if (type === "integer") {
    if (!isInt64(value)) return false;
    return format !== "int32" || (value >= -(2 ** 31) && value <= 2 ** 31 - 1);
  }
  if (format === "float") return Number.isFinite(Math.fround(value));
  return true;
}

const MAX_JSON_FLOAT = 2 ** 53 - 1;

/**
 * go-openapi/swag's IsFloat64AJSONInteger for a value the API server decoded as a float64 (a
 * fraction, or an integer out of int64's range): true within ±(2^53 - 1) when the fraction is
 * below a relative error of 1e-9, so that 5000000.001 counts as an integer. Negative values with
 * a fraction never count: Go's uint64 conversion of a negative float is far from it on amd64
 * and 0 on arm64, both rejected.
 */
function isFloat64AJSONInteger(value: number): boolean {
  if (!Number.isFinite(value) || Math.abs(value) > MAX_JSON_FLOAT) return false;
  if (Number.isInteger(value)) return true;
  if (value < 0) return false;
  const whole = Math.trunc(value);
  if (whole === 0) return false;
  return Math.abs(value - whole) / (value + whole) < 1e-9;
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
