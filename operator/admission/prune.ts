// Unknown fields. The API server prunes every field its structural schema does not declare, and
// kubectl asks for strict field validation by default (fieldValidation=Strict), which turns each
// pruned field into `unknown field "spec.foo"` and refuses the request before any validation
// runs. Paths are "spec.targetRefs[0].foo", sorted in Go's string order, as pruning/algorithm.go
// reports them. Metadata is checked against ObjectMeta's fields, as the API server does.
import { compareBytes } from "./messages.ts";
import { isJsonObject, type JsonObject, type SchemaNode } from "./structural.ts";

/** The JSON fields of metav1.ObjectMeta. */
export const OBJECT_META_FIELDS: ReadonlySet<string> = new Set([
  "name",
  "generateName",
  "namespace",
  "selfLink",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "labels",
  "annotations",
  "ownerReferences",
  "finalizers",
  "managedFields",
]);

const META_FIELDS: ReadonlySet<string> = new Set(["apiVersion", "kind", "metadata"]);

/**
 * Removes the fields a custom resource's schema does not declare (in place) and returns their
 * paths, sorted. apiVersion, kind and metadata are the API server's, not the schema's.
 */
export function pruneUnknownFields(object: JsonObject, schema: SchemaNode): string[] {
  const pruned: string[] = [];
  for (const [name, value] of Object.entries(object)) {
    if (META_FIELDS.has(name)) continue;
    const property = schema.properties?.[name];
    if (property === undefined) {
      pruned.push(name);
      delete object[name];
    } else {
      prune(value, property, name, pruned);
    }
  }
  const metadata = object.metadata;
  if (isJsonObject(metadata)) {
    for (const name of Object.keys(metadata)) {
      if (!OBJECT_META_FIELDS.has(name)) {
        pruned.push(`metadata.${name}`);
        delete metadata[name];
      }
    }
  }
  return pruned.sort(compareBytes);
}

function prune(
  value: unknown,
  schema: SchemaNode | undefined,
  path: string,
  pruned: string[],
): void {
  if (schema?.["x-kubernetes-preserve-unknown-fields"]) {
    // Unknown fields are kept here, but declared ones below are still pruned.
    if (isJsonObject(value)) {
      for (const [name, child] of Object.entries(value)) {
        const property = schema.properties?.[name];
        if (property !== undefined) prune(child, property, `${path}.${name}`, pruned);
      }
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) prune(item, schema.items, `${path}[${i}]`, pruned);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) prune(item, schema?.items, `${path}[${i}]`, pruned);
    return;
  }
  if (!isJsonObject(value)) return;
  for (const [name, child] of Object.entries(value)) {
    const property =
      schema?.properties?.[name] ??
      (typeof schema?.additionalProperties === "object" ? schema.additionalProperties : undefined);
    if (property === undefined) {
      pruned.push(`${path}.${name}`);
      delete value[name];
    } else {
      prune(child, property, `${path}.${name}`, pruned);
    }
  }
}
