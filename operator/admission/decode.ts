// Decoding a built-in object's JSON into its Go types, as the API server does before anything
// else, reduced to what can fail: a value of the wrong JSON type (encoding/json's
// UnmarshalTypeError, of which Go reports the first) and, under kubectl's strict field
// validation, fields the type does not have (`unknown field "spec.rules[0].foo"`, in document
// order). Only the Go types admission needs are described; "any" stands for fields whose
// contents are not checked (timestamps, managedFields and the like).
import { isInt64 } from "./messages.ts";
import { isJsonObject } from "./structural.ts";

/** A Go type, as far as JSON decoding is concerned. */
export type GoType =
  | { readonly kind: "string" | "int32" | "int64" | "bool" | "any" }
  | {
      readonly kind: "struct";
      readonly name: string;
      readonly fields: Readonly<Record<string, GoType>>;
    }
  | { readonly kind: "slice" | "map"; readonly elem: GoType };

/** What decoding found: a hard error (the first), or else the unknown fields. */
export interface DecodeResult {
  /** encoding/json's message, e.g. "json: cannot unmarshal string into Go struct field ...". */
  typeError?: { field: string; message: string };
  /** Paths of fields the Go type does not have, in document order. */
  unknownFields: string[];
}

/** Checks value against a Go type the way json.Unmarshal into that type would. */
export function decodeAs(value: unknown, type: GoType): DecodeResult {
  const result: DecodeResult = { unknownFields: [] };
  visit(value, type, { struct: "", field: "", path: "" }, result);
  return result;
}

interface Context {
  /** Innermost Go struct being decoded. */
  readonly struct: string;
  /** JSON field names from the root, without indices (Go's error context). */
  readonly field: string;
  /** The same path with indices, as strict decoding reports it. */
  readonly path: string;
}

function typeName(type: GoType): string {
  switch (type.kind) {
    case "struct":
      return `v1.${type.name}`;
    case "slice":
      return `[]${typeName(type.elem)}`;
    case "map":
      return `map[string]${typeName(type.elem)}`;
    default:
      return type.kind;
  }
}

function visit(value: unknown, type: GoType, at: Context, result: DecodeResult): void {
  if (value === null || value === undefined || type.kind === "any") return;
  const mismatch = jsonKindMismatch(value, type);
  if (mismatch !== undefined) {
    // Go keeps decoding after a type error but reports only the first one.
    result.typeError ??= {
      field: at.path,
      message: `json: cannot unmarshal ${mismatch} into Go struct field ${at.struct}.${at.field} of type ${typeName(type)}`,
    };
    return;
  }
  if (type.kind === "slice" && Array.isArray(value)) {
    for (const [i, item] of value.entries())
      visit(item, type.elem, { ...at, path: `${at.path}[${i}]` }, result);
  } else if (type.kind === "map" && isJsonObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      visit(item, type.elem, { ...at, path: `${at.path}.${key}` }, result);
    }
  } else if (type.kind === "struct" && isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      const path = at.path === "" ? name : `${at.path}.${name}`;
      const fieldType = type.fields[name];
      if (fieldType === undefined) {
        result.unknownFields.push(path);
        continue;
      }
      const field = at.field === "" ? name : `${at.field}.${name}`;
      visit(item, fieldType, { struct: type.name, field, path }, result);
    }
  }
}

/** The JSON value's description in an UnmarshalTypeError, or undefined when it fits the type. */
function jsonKindMismatch(value: unknown, type: GoType): string | undefined {
  if (typeof value === "string") return type.kind === "string" ? undefined : "string";
  if (typeof value === "boolean") return type.kind === "bool" ? undefined : "bool";
  if (typeof value === "number") {
    if (type.kind === "int64") return isInt64(value) ? undefined : `number ${value}`;
    if (type.kind === "int32") {
      return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31
        ? undefined
        : `number ${value}`;
    }
    return "number";
  }
  if (Array.isArray(value)) return type.kind === "slice" ? undefined : "array";
  return type.kind === "struct" || type.kind === "map" ? undefined : "object";
}

const string: GoType = { kind: "string" };
const any: GoType = { kind: "any" };

/** metav1.ObjectMeta. */
export const OBJECT_META: GoType = {
  kind: "struct",
  name: "ObjectMeta",
  fields: {
    name: string,
    generateName: string,
    namespace: string,
    selfLink: string,
    uid: string,
    resourceVersion: string,
    generation: { kind: "int64" },
    creationTimestamp: any,
    deletionTimestamp: any,
    deletionGracePeriodSeconds: { kind: "int64" },
    labels: { kind: "map", elem: string },
    annotations: { kind: "map", elem: string },
    ownerReferences: { kind: "slice", elem: any },
    finalizers: { kind: "slice", elem: string },
    managedFields: { kind: "slice", elem: any },
  },
};

/**
 * What json.Unmarshal into the Go type leaves of nulls, applied in place to a copy the caller owns: a
 * null field is as good as absent (deleted), and a null list item becomes the element type's zero value
 * (`{}` for a struct, "" for a string, 0, false), so that `rules: [null]` reaches the compiler as the
 * API server would store it (`rules: [{}]`), never as a null it would have to check for.
 */
export function normalizeNulls(value: unknown, type: GoType): void {
  if (type.kind === "slice" && Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === null) value[i] = zeroValue(type.elem);
      normalizeNulls(value[i], type.elem);
    });
  } else if (type.kind === "map" && isJsonObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (item === null) delete value[key];
      else normalizeNulls(item, type.elem);
    }
  } else if (type.kind === "struct" && isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      const fieldType = type.fields[name];
      if (item === null) delete value[name];
      else if (fieldType !== undefined) normalizeNulls(item, fieldType);
    }
  }
}

function zeroValue(type: GoType): unknown {
  switch (type.kind) {
    case "struct":
    case "map":
      return {};
    case "slice":
      return [];
    case "string":
      return "";
    case "int32":
    case "int64":
      return 0;
    case "bool":
      return false;
    default:
      return null;
  }
}
