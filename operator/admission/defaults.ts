// Structural defaulting as the API server applies it while decoding a custom resource:
// non-nullable nulls without a default are dropped, then every property with a `default` that is
// absent (or null) is filled in, top-down, only inside objects that are present. A default of {}
// is itself defaulted on the way down, which is how `tls: {}` gains hsts.maxAgeSeconds.
import { cloneJson } from "../api/json.ts";
import { isJsonObject, propertySchema, type SchemaNode } from "./structural.ts";

/** Drops nulls the schema does not allow and has no default for (PruneNonNullableNullsWithoutDefaults). */
export function pruneNulls(value: unknown, schema: SchemaNode | undefined): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    for (const item of value) pruneNulls(item, schema.items);
    return;
  }
  if (!isJsonObject(value)) return;
  for (const [name, child] of Object.entries(value)) {
    const property = propertySchema(schema, name);
    if (child === null) {
      if (property === undefined || (!property.nullable && property.default === undefined)) {
        delete value[name];
      }
      continue;
    }
    pruneNulls(child, property);
  }
}

/** Fills in schema defaults, in place. */
export function applyDefaults(value: unknown, schema: SchemaNode | undefined): void {
  if (schema === undefined) return;
  if (Array.isArray(value)) {
    const items = schema.items;
    if (items === undefined) return;
    value.forEach((item, i) => {
      if (item === null && !items.nullable && items.default !== undefined) {
        value[i] = cloneJson(items.default);
      }
      applyDefaults(value[i], items);
    });
    return;
  }
  if (!isJsonObject(value)) return;
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property.default === undefined) continue;
    const current = value[name];
    if (current === undefined || (current === null && !property.nullable)) {
      value[name] = cloneJson(property.default);
    }
  }
  for (const [name, child] of Object.entries(value)) {
    applyDefaults(child, propertySchema(schema, name));
  }
}

/** The schema's defaults applied to an empty value of the node's type ({} or []). */
export function defaultsOf(schema: SchemaNode): unknown {
  if (schema.type === "array") return [];
  const value = {};
  applyDefaults(value, schema);
  return value;
}
