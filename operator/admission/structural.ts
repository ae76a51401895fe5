// A typed view of a CRD's structural schema (the openAPIV3Schema of a version), as the API
// server's defaulting, pruning, list-type and CEL passes walk it.

/** One x-kubernetes-validations entry. */
export interface ValidationRule {
  /** The CEL expression; true means valid. */
  readonly rule: string;
  /** The error text when the rule fails; default "failed rule: <rule>". */
  readonly message?: string;
  /** A CEL expression giving the error text; message is the fallback when it fails. */
  readonly messageExpression?: string;
  /** Where the error is reported, relative to the node that holds the rule, e.g. ".upstream". */
  readonly fieldPath?: string;
  /** FieldValueInvalid (default), FieldValueForbidden, FieldValueRequired or FieldValueDuplicate. */
  readonly reason?: string;
  /** Whether a transition rule also runs on create, with oldSelf unset. */
  readonly optionalOldSelf?: boolean;
}

/**
 * One node of a structural schema; only what admission reads. The fields are the OpenAPI v3 and
 * Kubernetes keywords of the same names.
 */
export interface SchemaNode {
  readonly type?: string;
  /** The API server keeps int32/int64 on integers and float/double on numbers (see schema.ts). */
  readonly format?: string;
  readonly properties?: { readonly [name: string]: SchemaNode };
  readonly additionalProperties?: SchemaNode | boolean;
  readonly items?: SchemaNode;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly nullable?: boolean;
  readonly pattern?: string;
  readonly "x-kubernetes-validations"?: readonly ValidationRule[];
  readonly "x-kubernetes-list-type"?: string;
  readonly "x-kubernetes-list-map-keys"?: readonly string[];
  readonly "x-kubernetes-preserve-unknown-fields"?: boolean;
  readonly "x-kubernetes-embedded-resource"?: boolean;
}

/** A decoded JSON object. */
export type JsonObject = Record<string, unknown>;

/** Whether a decoded JSON value is an object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The schema of a property, or of additionalProperties; undefined when the field is unknown. */
export function propertySchema(
  schema: SchemaNode | undefined,
  name: string,
): SchemaNode | undefined {
  if (schema === undefined) return undefined;
  const property = schema.properties?.[name];
  if (property !== undefined) return property;
  return typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined;
}
