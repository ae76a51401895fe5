// From loaded manifest objects to the compiler's input, doing on the way what the API server would
// have done before the controller ever saw them: pick the kinds Portcullis reads, default the
// namespace, refuse duplicates, run admission (schema defaults and validation) and fold a Secret's
// stringData into data. Objects the API server would refuse are reported and left out.
import type {
  V1EndpointSlice,
  V1Ingress,
  V1IngressClass,
  V1ObjectMeta,
  V1Secret,
  V1Service,
} from "@kubernetes/client-node";
import { type AdmissionError, admitIngress, admitPolicy } from "../operator/admission/index.ts";
import type { CertManagerClusterIssuer, CertManagerIssuer } from "../operator/api/cert-manager.ts";
import { compareKeys, formatKey } from "../operator/api/keys.ts";
import type { LoadBalancerPolicy } from "../operator/api/policy.ts";
import type { CompilerInput } from "../operator/compiler/types.ts";
import type { LoadedObject, Origin } from "./manifests.ts";
import type { Problem, ProblemObject, ProblemSource } from "./problems.ts";

/** Namespace given to namespaced objects that set none (as kubectl does without -n). */
export const DEFAULT_NAMESPACE = "default";

type ListName = keyof CompilerInput;

/** A kind the compiler reads. */
interface KindSpec {
  apiVersion: string;
  kind: string;
  list: ListName;
  namespaced: boolean;
  /** Offline admission: the API server's defaulting and validation of this kind. */
  admit?: (object: unknown) => { object: unknown; errors: AdmissionError[] };
}

const KINDS: readonly KindSpec[] = [
  {
    apiVersion: "networking.k8s.io/v1",
    kind: "IngressClass",
    list: "ingressClasses",
    namespaced: false,
  },
  {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    list: "ingresses",
    namespaced: true,
    admit: admitIngress,
  },
  {
    apiVersion: "portcullis.dev/v1alpha1",
    kind: "LoadBalancerPolicy",
    list: "policies",
    namespaced: true,
    admit: admitPolicy,
  },
  { apiVersion: "v1", kind: "Service", list: "services", namespaced: true },
  {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    list: "endpointSlices",
    namespaced: true,
  },
  { apiVersion: "v1", kind: "Secret", list: "secrets", namespaced: true },
  { apiVersion: "cert-manager.io/v1", kind: "Issuer", list: "issuers", namespaced: true },
  {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    list: "clusterIssuers",
    namespaced: false,
  },
];

/** API groups whose every kind the API server knows: an unknown kind or version there is an error, not someone else's CRD. */
const OWN_GROUPS: ReadonlySet<string> = new Set(["portcullis.dev"]);

/** The compiler input and what it took to build it. */
export interface BuiltInput {
  /** Every accepted object, each list sorted by namespace/name so that input order cannot matter. */
  input: CompilerInput;
  /** Where each object that claimed a key came from (accepted, or refused by admission), by objectKey(). */
  origins: Map<string, Origin>;
  /** Objects refused (bad apiVersion, no name, duplicate, refused by admission), in input order. */
  problems: Problem[];
  /** Objects read, whatever their kind. */
  objectCount: number;
  /** Objects of kinds the compiler does not read, counted by "apiVersion kind". */
  ignored: Map<string, number>;
}

/** Options of buildCompilerInput. */
export interface BuildInputOptions {
  /** Namespace for namespaced objects that set none. Default "default". */
  defaultNamespace?: string;
}

/** "Kind/namespace/name" ("Kind/name" for cluster-scoped objects): the key of the origins map. */
export function objectKey(object: ProblemObject): string {
  return `${object.kind}/${formatKey(object)}`;
}

/** Classifies, defaults and admits loaded objects into a CompilerInput. Pure. */
export function buildCompilerInput(
  objects: readonly LoadedObject[],
  options: BuildInputOptions = {},
): BuiltInput {
  const defaultNamespace = options.defaultNamespace ?? DEFAULT_NAMESPACE;
  const built: BuiltInput = {
    input: {
      ingressClasses: [],
      ingresses: [],
      policies: [],
      services: [],
      endpointSlices: [],
      secrets: [],
      issuers: [],
      clusterIssuers: [],
    },
    origins: new Map(),
    problems: [],
    objectCount: objects.length,
    ignored: new Map(),
  };
  const accepted: { [L in ListName]: unknown[] } = {
    ingressClasses: [],
    ingresses: [],
    policies: [],
    services: [],
    endpointSlices: [],
    secrets: [],
    issuers: [],
    clusterIssuers: [],
  };

  for (const { object: raw, origin } of objects) {
    const refuse = (
      message: string,
      field?: string,
      object?: ProblemObject,
      source: ProblemSource = "admission",
    ): void => {
      built.problems.push({
        severity: "Error",
        source,
        file: origin.file,
        line: origin.line,
        ...(object ? { object } : {}),
        ...(field ? { field } : {}),
        message,
      });
    };

    const apiVersion = raw.apiVersion;
    const kind = raw.kind;
    if (typeof apiVersion !== "string" || apiVersion === "") {
      refuse("apiVersion: Required value: every object needs apiVersion and kind", "apiVersion");
      continue;
    }
    if (typeof kind !== "string" || kind === "") {
      refuse("kind: Required value: every object needs apiVersion and kind", "kind");
      continue;
    }
    const spec = KINDS.find((k) => k.apiVersion === apiVersion && k.kind === kind);
    if (!spec) {
      const unsupported = unsupportedVersion(apiVersion, kind);
      if (unsupported) refuse(unsupported.message, unsupported.field);
      else {
        const label = `${apiVersion} ${kind}`;
        built.ignored.set(label, (built.ignored.get(label) ?? 0) + 1);
      }
      continue;
    }

    const object = structuredClone(raw);
    const metadata = isRecord(object.metadata) ? object.metadata : {};
    object.metadata = metadata;
    const name = metadata.name;
    if (typeof name !== "string" || name === "") {
      refuse("metadata.name: Required value: name or generateName is required", "metadata.name");
      continue;
    }
    if (spec.namespaced) {
      if (typeof metadata.namespace !== "string" || metadata.namespace === "") {
        metadata.namespace = defaultNamespace;
      }
    } else {
      delete metadata.namespace; // the API server ignores it on cluster-scoped kinds
    }
    const ref: ProblemObject = {
      kind,
      namespace: spec.namespaced ? (metadata.namespace as string) : "",
      name,
    };
    const key = objectKey(ref);
    const first = built.origins.get(key);
    if (first) {
      // Which copy the cluster would keep depends on the order they are applied in: ambiguous input.
      refuse(
        `duplicate object: already defined at ${first.file}:${first.line}`,
        undefined,
        ref,
        "manifest",
      );
      continue;
    }

    let admitted: unknown = object;
    if (spec.admit) {
      const result = spec.admit(object);
      if (result.errors.length > 0) {
        for (const error of result.errors) refuse(error.message, error.field, ref);
        // Still claim the key: a second copy would be a duplicate whether or not this one is valid.
        built.origins.set(key, origin);
        continue;
      }
      admitted = result.object;
    }
    if (spec.kind === "Secret") {
      const errors = foldStringData(admitted as Record<string, unknown>);
      if (errors.length > 0) {
        for (const error of errors) refuse(error.message, error.field, ref);
        built.origins.set(key, origin);
        continue;
      }
    }
    reviveTimestamps(admitted);
    built.origins.set(key, origin);
    accepted[spec.list].push(admitted);
  }

  const byKey = (a: unknown, b: unknown): number =>
    compareKeys(keyOf(a as { metadata?: V1ObjectMeta }), keyOf(b as { metadata?: V1ObjectMeta }));
  const input = built.input;
  input.ingressClasses = (accepted.ingressClasses as V1IngressClass[]).sort(byKey);
  input.ingresses = (accepted.ingresses as V1Ingress[]).sort(byKey);
  input.policies = (accepted.policies as LoadBalancerPolicy[]).sort(byKey);
  input.services = (accepted.services as V1Service[]).sort(byKey);
  input.endpointSlices = (accepted.endpointSlices as V1EndpointSlice[]).sort(byKey);
  input.secrets = (accepted.secrets as V1Secret[]).sort(byKey);
  input.issuers = (accepted.issuers as CertManagerIssuer[]).sort(byKey);
  input.clusterIssuers = (accepted.clusterIssuers as CertManagerClusterIssuer[]).sort(byKey);
  return built;
}

/**
 * An error for a kind of ours (or one we read) under an apiVersion the API server does not serve,
 * which would otherwise be ignored silently, the way a typo in apiVersion hides a whole policy.
 */
function unsupportedVersion(
  apiVersion: string,
  kind: string,
): { message: string; field: string } | undefined {
  const group = groupOf(apiVersion);
  const sameKind = KINDS.filter((k) => k.kind === kind && groupOf(k.apiVersion) === group);
  if (sameKind.length > 0 || (kind === "Ingress" && group === "extensions")) {
    const supported = KINDS.filter((k) => k.kind === kind).map((k) => `"${k.apiVersion}"`);
    return {
      field: "apiVersion",
      message: `apiVersion: Unsupported value: "${apiVersion}": supported values for kind ${kind}: ${supported.join(", ")}`,
    };
  }
  if (OWN_GROUPS.has(group)) {
    const supported = KINDS.filter((k) => groupOf(k.apiVersion) === group).map(
      (k) => `"${k.kind}"`,
    );
    return {
      field: "kind",
      message: `kind: Unsupported value: "${kind}": supported values for ${group}: ${supported.join(", ")}`,
    };
  }
  return undefined;
}

/** API group of an apiVersion ("" for the core group's "v1"). */
function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf("/");
  return slash === -1 ? "" : apiVersion.slice(0, slash);
}

/**
 * What the API server does to a Secret on write: stringData is merged into data (base64), data
 * must be base64, and type defaults to Opaque.
 */
function foldStringData(secret: Record<string, unknown>): { field: string; message: string }[] {
  const errors: { field: string; message: string }[] = [];
  const data: Record<string, unknown> = isRecord(secret.data) ? { ...secret.data } : {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== "string" || !isBase64(value)) {
      errors.push({
        field: `data[${key}]`,
        message: `data[${key}]: Invalid value: illegal base64 data`,
      });
    }
  }
  if (isRecord(secret.stringData)) {
    for (const [key, value] of Object.entries(secret.stringData)) {
      if (typeof value !== "string") {
        errors.push({
          field: `stringData[${key}]`,
          message: `stringData[${key}]: Invalid value: must be a string`,
        });
        continue;
      }
      data[key] = Buffer.from(value, "utf8").toString("base64");
    }
  }
  delete secret.stringData;
  if (Object.keys(data).length > 0 || secret.data !== undefined) secret.data = data;
  if (typeof secret.type !== "string" || secret.type === "") secret.type = "Opaque";
  return errors;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isBase64(text: string): boolean {
  return BASE64.test(text);
}

/**
 * metadata.creationTimestamp (and deletionTimestamp) as the Date the client library's types
 * promise; a value that does not parse is dropped (the API server sets its own on create).
 */
function reviveTimestamps(object: unknown): void {
  const metadata = (object as { metadata?: Record<string, unknown> }).metadata;
  if (!metadata) return;
  for (const field of ["creationTimestamp", "deletionTimestamp"]) {
    const value = metadata[field];
    if (typeof value !== "string") continue;
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) delete metadata[field];
    else metadata[field] = date;
  }
}

function keyOf(object: { metadata?: V1ObjectMeta }): { namespace: string; name: string } {
  return { namespace: object.metadata?.namespace ?? "", name: object.metadata?.name ?? "" };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
