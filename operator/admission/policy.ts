// Offline admission of LoadBalancerPolicies, in the API server's order (customresource_handler.go,
// strategy.go, validator.go): decode (prune unknown fields, which strict field validation turns
// into the only errors; drop non-nullable nulls; apply defaults), drop status (create cannot set
// it), then validate kind and apiVersion, metadata, the OpenAPI schema and list types, and
// finally the x-kubernetes-validations rules — unless an earlier error is of a kind that makes
// CEL unsafe to run (hasBlockingErr), in which case one line says the rules were not checked.
import { cloneJson } from "../api/json.ts";
import type { LoadBalancerPolicy, PolicySpec } from "../api/policy.ts";
import { POLICY_API_VERSION, POLICY_KIND } from "../api/policy.ts";
import { loadBalancerPolicySchema } from "../generated/loadbalancerpolicy-schema.ts";
import { validateRules } from "./cel.ts";
import { decodeAs, OBJECT_META } from "./decode.ts";
import { applyDefaults, defaultsOf, pruneNulls } from "./defaults.ts";
import { validateListTypes } from "./listtype.ts";
import { type FieldError, invalid, unknownField } from "./messages.ts";
import { validateObjectMeta } from "./names.ts";
import { pruneUnknownFields } from "./prune.ts";
import { compileOpenAPIValidator, type OpenAPIValidator } from "./schema.ts";
import { isJsonObject, type SchemaNode } from "./structural.ts";
import type { AdmissionError, AdmissionResult } from "./types.ts";

const schema: SchemaNode = loadBalancerPolicySchema;

let openAPIValidator: OpenAPIValidator | undefined;

/** Ajv compiles the schema on first use, not at import. */
function validateOpenAPI(value: unknown): FieldError[] {
  openAPIValidator ??= compileOpenAPIValidator(schema);
  return openAPIValidator(value);
}

/** Schema errors after which the API server does not run CEL rules (strategy.go hasBlockingErr). */
const BLOCKING: ReadonlySet<FieldError["type"]> = new Set([
  "FieldValueNotSupported",
  "FieldValueRequired",
  "FieldValueTooLong",
  "FieldValueTooMany",
  "FieldValueTypeInvalid",
]);

const NOT_CHECKED =
  "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/**
 * Defaults and validates a LoadBalancerPolicy as the API server would on create. The returned
 * object is a defaulted deep copy with unknown fields removed; its status is kept (the API
 * server would drop it on create, but it is not validated either way).
 */
export function admitPolicy(obj: unknown): AdmissionResult<LoadBalancerPolicy> {
  if (!isJsonObject(obj)) {
    const error = invalid("", obj ?? null, `a ${POLICY_KIND} must be a JSON object`);
    return { object: {} as LoadBalancerPolicy, errors: [toAdmissionError(error)] };
  }
  const object = cloneJson(obj);
  const unknown = pruneUnknownFields(object, schema);
  pruneNulls(object, schema);
  applyDefaults(object, schema);
  const errors = unknown.length > 0 ? unknown.map(unknownField) : validatePolicy(object);
  return { object: object as unknown as LoadBalancerPolicy, errors: errors.map(toAdmissionError) };
}

function validatePolicy(object: Record<string, unknown>): FieldError[] {
  const typeMeta = validateTypeMeta(object);
  if (typeMeta.length > 0) return typeMeta;

  const { status: _dropped, ...created } = object;
  // The API server decodes every object's metadata into ObjectMeta first: a field of the wrong type
  // (a namespace that is not a string) is refused there, before any schema is looked at.
  const metaType = decodeAs(created.metadata, OBJECT_META).typeError;
  if (metaType)
    return [
      {
        field: `metadata.${metaType.field}`,
        type: "FieldValueTypeInvalid",
        message: metaType.message,
      },
    ];
  const errors = [
    ...validateObjectMeta(created.metadata),
    ...validateOpenAPI(created),
    ...validateListTypes(created, schema),
  ];
  if (errors.some((error) => BLOCKING.has(error.type))) {
    errors.push(invalid("", null, NOT_CHECKED));
  } else {
    errors.push(...validateRules(created, schema));
  }
  return errors;
}

/** customResourceValidator.ValidateTypeMeta. */
function validateTypeMeta(object: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  if (object.kind !== POLICY_KIND) {
    errors.push(invalid("kind", object.kind ?? "", `must be ${POLICY_KIND}`));
  }
  if (object.apiVersion !== POLICY_API_VERSION) {
    errors.push(invalid("apiVersion", object.apiVersion ?? "", `must be ${POLICY_API_VERSION}`));
  }
  return errors;
}

function toAdmissionError({ field, message }: FieldError): AdmissionError {
  return { field, message };
}

/**
 * The schema's defaults applied to an empty object for one top-level spec section, e.g.
 * defaultPolicySection("healthCheck") →
 * { passive: { consecutiveFailures: 5, ejectionTime: "30s", maxEjectionPercent: 50 } }.
 * Used by the compiler for sections no policy sets. Array sections give []. A required field
 * without a default (affinity.cookie) stays absent. Each call returns a fresh object.
 */
export function defaultPolicySection<K extends keyof PolicySpec>(
  section: K,
): NonNullable<PolicySpec[K]> {
  const node = schema.properties?.spec?.properties?.[section];
  if (node === undefined)
    throw new Error(`LoadBalancerPolicy spec has no section ${String(section)}`);
  return defaultsOf(node) as NonNullable<PolicySpec[K]>;
}
