// The x-kubernetes-list-type invariants (listtype/validation.go): items of a "set" and the keys
// of a "map" list must be unique. Each value is reported once, at its second appearance.
import { child, duplicate, type FieldError, goJSON, index, invalid } from "./messages.ts";
import { isJsonObject, propertySchema, type SchemaNode } from "./structural.ts";

/** Duplicate items of set lists and duplicate keys of map lists, anywhere below value. */
export function validateListTypes(
  value: unknown,
  schema: SchemaNode | undefined,
  path = "",
): FieldError[] {
  const errors: FieldError[] = [];
  walk(value, schema, path, errors);
  return errors;
}

function walk(
  value: unknown,
  schema: SchemaNode | undefined,
  path: string,
  errors: FieldError[],
): void {
  if (schema === undefined) return;
  if (isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      walk(item, propertySchema(schema, name), child(path, name), errors);
    }
    return;
  }
  if (!Array.isArray(value)) return;
  const listType = schema["x-kubernetes-list-type"];
  if (listType === "set") {
    for (const i of secondAppearances(value)) errors.push(duplicate(index(path, i), value[i]));
  } else if (listType === "map") {
    errors.push(...validateMapList(value, schema["x-kubernetes-list-map-keys"] ?? [], path));
  }
  for (const [i, item] of value.entries()) walk(item, schema.items, index(path, i), errors);
}

/** Indices where a value is seen for the second time (later repeats are not reported again). */
function secondAppearances(values: readonly unknown[]): number[] {
  const seen = new Map<string, number>();
  const found: number[] = [];
  values.forEach((value, i) => {
    const key = identity(value);
    const times = seen.get(key) ?? 0;
    seen.set(key, times + 1);
    if (times === 1) found.push(i);
  });
  return found;
}

/** Equality as Go's map keys (scalars) and json.Marshal (compound values) give it. */
function identity(value: unknown): string {
  return value === undefined ? "<unspecified>" : `${typeof value}:${goJSON(value)}`;
}

function validateMapList(
  values: readonly unknown[],
  keys: readonly string[],
  path: string,
): FieldError[] {
  for (const [i, item] of values.entries()) {
    if (item !== null && !isJsonObject(item)) {
      return [invalid(index(path, i), item, "must be an object for an array of list-type map")];
    }
  }
  const keyed = values.map((item) => {
    const key: Record<string, unknown> = {};
    if (isJsonObject(item)) {
      for (const name of keys) if (name in item) key[name] = item[name];
    }
    return key;
  });
  if (keys.length === 1) {
    const [only = ""] = keys;
    // With one key the API server compares the key's value itself (undefined when absent).
    return secondAppearances(keyed.map((k) => k[only])).map((i) =>
      duplicate(index(path, i), only in (keyed[i] ?? {}) ? keyed[i] : {}),
    );
  }
  return secondAppearances(keyed).map((i) => duplicate(index(path, i), keyed[i]));
}
