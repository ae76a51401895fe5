// The shapes the compiler may rely on, for the objects it does not admit itself (Ingresses and
// policies go through admission): Services, EndpointSlices, Secrets, IngressClasses and issuers. The
// API server guarantees these shapes for what it serves, but manifests read by `portcullis check`
// guarantee nothing, and the compiler must never throw on bad input. So each object is copied keeping
// only fields of the right type (a list that is not a list becomes empty, an entry of the wrong type
// is dropped); an object without a name is dropped whole. What is dropped was unusable anyway; the
// compiler then reports what is missing (a port not found, a Secret without a certificate) as usual.
import type {
  V1EndpointSlice,
  V1IngressClass,
  V1ObjectMeta,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import type { CertManagerClusterIssuer, CertManagerIssuer } from "../api/cert-manager.ts";
import type { CompilerInput } from "./types.ts";

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;
const bool = (value: unknown): boolean | undefined =>
  typeof value === "boolean" ? value : undefined;
/** A TCP/UDP port (1–65535), as the API server validates it. */
const portNumber = (value: unknown): number | undefined =>
  Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535
    ? (value as number)
    : undefined;
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const records = (value: unknown): Json[] => list(value).filter(isRecord);
const strings = (value: unknown): string[] =>
  list(value).filter((item): item is string => typeof item === "string");

/**
 * Keeps only the entries whose value is a string, every key included: JSON.parse gives an own
 * `"__proto__"` key like any other, and assigning it would call Object.prototype's setter instead,
 * so the copy would lack an entry the original (used as it is when well shaped) has.
 */
function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isRecord(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") continue;
    if (key === "__proto__") {
      Object.defineProperty(out, key, {
        value: item,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else {
      out[key] = item;
    }
  }
  return out;
}

/** Copies the defined entries of `fields` (so that absent stays absent, as exactOptionalPropertyTypes wants). */
function defined<T extends Json>(fields: T): Partial<T> {
  const out: Json = {};
  // for…in rather than Object.entries: no [key, value] pair per field, for every object of the input
  // (a twentieth of compiling 10,000 Ingresses, measured). `fields` is always an object literal, so
  // there are no inherited enumerable keys.
  for (const key in fields) {
    const value = fields[key];
    if (value !== undefined) out[key] = value;
  }
  return out as Partial<T>;
}

function metadata(value: unknown): V1ObjectMeta | undefined {
  if (!isRecord(value) || typeof value.name !== "string" || value.name === "") return undefined;
  const created = value.creationTimestamp;
  return defined({
    name: value.name,
    namespace: str(value.namespace),
    uid: str(value.uid),
    generation: num(value.generation),
    resourceVersion: str(value.resourceVersion),
    creationTimestamp:
      typeof created === "string" || created instanceof Date ? (created as Date) : undefined,
    labels: stringMap(value.labels),
    annotations: stringMap(value.annotations),
  }) as V1ObjectMeta;
}

function service(value: unknown): V1Service | undefined {
  if (!isRecord(value)) return undefined;
  const meta = metadata(value.metadata);
  if (!meta) return undefined;
  const spec = isRecord(value.spec) ? value.spec : {};
  const ports = records(spec.ports).flatMap((port) => {
    const number = portNumber(port.port);
    if (number === undefined) return [];
    const target = port.targetPort;
    return [
      defined({
        port: number,
        name: str(port.name),
        protocol: str(port.protocol),
        appProtocol: str(port.appProtocol),
        targetPort: typeof target === "string" || typeof target === "number" ? target : undefined,
      }),
    ];
  });
  return {
    ...defined({ apiVersion: str(value.apiVersion), kind: str(value.kind) }),
    metadata: meta,
    spec: defined({
      type: str(spec.type),
      externalName: str(spec.externalName),
      ipFamilies: Array.isArray(spec.ipFamilies) ? strings(spec.ipFamilies) : undefined,
      ports,
    }),
  } as V1Service;
}

function endpointSlice(value: unknown): V1EndpointSlice | undefined {
  if (!isRecord(value)) return undefined;
  const meta = metadata(value.metadata);
  if (!meta) return undefined;
  return {
    ...defined({ apiVersion: str(value.apiVersion), kind: str(value.kind) }),
    metadata: meta,
    addressType: str(value.addressType) ?? "",
    ports: records(value.ports).map((port) =>
      defined({ name: str(port.name), port: portNumber(port.port), protocol: str(port.protocol) }),
    ),
    endpoints: records(value.endpoints).map((endpoint) => {
      const conditions = isRecord(endpoint.conditions) ? endpoint.conditions : undefined;
      const target = isRecord(endpoint.targetRef) ? endpoint.targetRef : undefined;
      return {
        addresses: strings(endpoint.addresses),
        ...defined({
          conditions:
            conditions &&
            defined({
              ready: bool(conditions.ready),
              serving: bool(conditions.serving),
              terminating: bool(conditions.terminating),
            }),
          targetRef: target && defined({ kind: str(target.kind), name: str(target.name) }),
        }),
      };
    }),
  } as V1EndpointSlice;
}

function secret(value: unknown): V1Secret | undefined {
  if (!isRecord(value)) return undefined;
  const meta = metadata(value.metadata);
  if (!meta) return undefined;
  return {
    ...defined({ apiVersion: str(value.apiVersion), kind: str(value.kind) }),
    metadata: meta,
    ...defined({
      type: str(value.type),
      data: stringMap(value.data),
      stringData: stringMap(value.stringData),
    }),
  } as V1Secret;
}

function ingressClass(value: unknown): V1IngressClass | undefined {
  if (!isRecord(value)) return undefined;
  const meta = metadata(value.metadata);
  if (!meta) return undefined;
  const spec = isRecord(value.spec) ? value.spec : {};
  return {
    ...defined({ apiVersion: str(value.apiVersion), kind: str(value.kind) }),
    metadata: meta,
    spec: defined({ controller: str(spec.controller) }),
  } as V1IngressClass;
}

/** An issuer keeps its spec as far as issuance reads it: acme.solvers[].dns01. */
function issuer<T extends CertManagerIssuer | CertManagerClusterIssuer>(
  value: unknown,
): T | undefined {
  if (!isRecord(value)) return undefined;
  const meta = metadata(value.metadata);
  if (!meta) return undefined;
  const spec = isRecord(value.spec) ? value.spec : {};
  const acme = isRecord(spec.acme) ? spec.acme : undefined;
  return {
    ...defined({ apiVersion: str(value.apiVersion), kind: str(value.kind) }),
    metadata: meta,
    spec: {
      ...spec,
      ...(acme ? { acme: { ...acme, solvers: records(acme.solvers) } } : { acme: undefined }),
    },
  } as unknown as T;
}

// Objects the API server serves already have these shapes, and checking is far cheaper than copying:
// the copies lived as long as the compile, and the EndpointSlices' alone were a fifth of what compiling
// 10,000 Ingresses left to the old generation (measured with V8's sampling heap profiler). So Services
// and EndpointSlices are used as they are when every field the copy would keep already has the type
// the copy would give it; the copy is then a projection of the original (every value it keeps is the
// original's), and the compiler reads nothing the copy drops. Anything else is copied as above. A list
// that is absent counts as well shaped: the compiler reads an absent list as an empty one.

const isOptional = (value: unknown, check: (value: unknown) => boolean): boolean =>
  value === undefined || check(value);
const isString = (value: unknown): boolean => typeof value === "string";
const isNumber = (value: unknown): boolean => num(value) !== undefined;
const isBoolean = (value: unknown): boolean => typeof value === "boolean";
const isPort = (value: unknown): boolean => portNumber(value) !== undefined;

function isStringMap(value: unknown): boolean {
  if (!isRecord(value)) return false;
  for (const key in value) if (typeof value[key] !== "string") return false;
  return true;
}

/** An absent list, or a list whose every item passes `check`. */
function isListOf(value: unknown, check: (item: unknown) => boolean): boolean {
  if (value === undefined) return true;
  if (!Array.isArray(value)) return false;
  for (const item of value) if (!check(item)) return false;
  return true;
}

function isWellShapedMetadata(value: unknown): boolean {
  if (!isRecord(value) || typeof value.name !== "string" || value.name === "") return false;
  const created = value.creationTimestamp;
  return (
    isOptional(value.namespace, isString) &&
    isOptional(value.uid, isString) &&
    isOptional(value.generation, isNumber) &&
    isOptional(value.resourceVersion, isString) &&
    (created === undefined || typeof created === "string" || created instanceof Date) &&
    isOptional(value.labels, isStringMap) &&
    isOptional(value.annotations, isStringMap)
  );
}

function isWellShapedTypeMeta(value: Json): boolean {
  return (
    isOptional(value.apiVersion, isString) &&
    isOptional(value.kind, isString) &&
    isWellShapedMetadata(value.metadata)
  );
}

function isWellShapedServicePort(port: unknown): boolean {
  if (!isRecord(port) || !isPort(port.port)) return false;
  const target = port.targetPort;
  return (
    isOptional(port.name, isString) &&
    isOptional(port.protocol, isString) &&
    isOptional(port.appProtocol, isString) &&
    (target === undefined || typeof target === "string" || typeof target === "number")
  );
}

function isWellShapedService(value: unknown): value is V1Service {
  if (!isRecord(value) || !isWellShapedTypeMeta(value)) return false;
  const spec = value.spec;
  return (
    isRecord(spec) &&
    isOptional(spec.type, isString) &&
    isOptional(spec.externalName, isString) &&
    isListOf(spec.ipFamilies, isString) &&
    isListOf(spec.ports, isWellShapedServicePort)
  );
}

function isWellShapedSlicePort(port: unknown): boolean {
  return (
    isRecord(port) &&
    isOptional(port.name, isString) &&
    isOptional(port.port, isPort) &&
    isOptional(port.protocol, isString)
  );
}

function isWellShapedEndpoint(endpoint: unknown): boolean {
  if (!isRecord(endpoint) || !Array.isArray(endpoint.addresses)) return false;
  if (!isListOf(endpoint.addresses, isString)) return false;
  const conditions = endpoint.conditions;
  if (conditions !== undefined) {
    if (!isRecord(conditions)) return false;
    if (
      !isOptional(conditions.ready, isBoolean) ||
      !isOptional(conditions.serving, isBoolean) ||
      !isOptional(conditions.terminating, isBoolean)
    )
      return false;
  }
  const target = endpoint.targetRef;
  return (
    target === undefined ||
    (isRecord(target) && isOptional(target.kind, isString) && isOptional(target.name, isString))
  );
}

function isWellShapedEndpointSlice(value: unknown): value is V1EndpointSlice {
  return (
    isRecord(value) &&
    isWellShapedTypeMeta(value) &&
    typeof value.addressType === "string" &&
    isListOf(value.ports, isWellShapedSlicePort) &&
    isListOf(value.endpoints, isWellShapedEndpoint)
  );
}

/** `value` itself when it is well shaped, else its copy (undefined when unusable). */
function reuseOrCopy<T>(
  isWellShaped: (value: unknown) => value is T,
  copy: (value: unknown) => T | undefined,
): (value: unknown) => T | undefined {
  return (value) => (isWellShaped(value) ? value : copy(value));
}

/** Each kind with a fast path: what wellShapedInput applies (`shape`) and the copy alone (for tests). */
export const REUSABLE_SHAPES = {
  service: { shape: reuseOrCopy(isWellShapedService, service), copy: service },
  endpointSlice: {
    shape: reuseOrCopy(isWellShapedEndpointSlice, endpointSlice),
    copy: endpointSlice,
  },
};

const keep = <T>(items: readonly unknown[], shape: (value: unknown) => T | undefined): T[] =>
  (Array.isArray(items) ? items : []).flatMap((item) => shape(item) ?? []);

/**
 * The input with every Service, EndpointSlice, Secret, IngressClass and issuer in a shape the
 * compiler can read without checking types again. Ingresses and policies pass unchanged (admission
 * checks them).
 */
export function wellShapedInput(input: CompilerInput): CompilerInput {
  return {
    ingressClasses: keep(input.ingressClasses, ingressClass),
    ingresses: Array.isArray(input.ingresses) ? input.ingresses : [],
    policies: Array.isArray(input.policies) ? input.policies : [],
    services: keep(input.services, REUSABLE_SHAPES.service.shape),
    endpointSlices: keep(input.endpointSlices, REUSABLE_SHAPES.endpointSlice.shape),
    secrets: keep(input.secrets, secret),
    issuers: keep(input.issuers, issuer<CertManagerIssuer>),
    clusterIssuers: keep(input.clusterIssuers, issuer<CertManagerClusterIssuer>),
  };
}
