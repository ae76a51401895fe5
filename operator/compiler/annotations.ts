// ingress-nginx annotations, so that its users can move without rewriting every Ingress first: the
// common nginx.ingress.kubernetes.io/ annotations of cookie affinity, HTTPS redirect and backend
// protocol are mapped onto the same model as a LoadBalancerPolicy, validated by the same admission,
// and each one honoured is reported with the policy fragment that replaces it. The mapping table and
// the differences in behaviour: docs/migration-from-ingress-nginx.md.
//
// Precedence, per top-level section (tls, affinity), as for policies:
//
//   LoadBalancerPolicy targeting the Ingress  >  the Ingress's annotations  >  IngressClass policy  >  defaults
//
// A policy targeting the Ingress that sets a section wins it whole; the annotations of that section
// are then ignored, with a warning each. Otherwise the annotations make the section, and the fields
// they do not name come from the section the Ingress would have had without them (the IngressClass
// policy's, else the schema's defaults): an ssl-redirect annotation must not silently drop the
// class's minVersion, cipherPolicy or HSTS, which ingress-nginx annotations could never express.
//
// Bad values never throw: each is a warning naming the annotation, and only that annotation is
// dropped. Other nginx.ingress.kubernetes.io/ annotations get one warning per Ingress listing them:
// ignoring auth-url or whitelist-source-range silently would leave an application open that its
// owners believe protected.
import type { V1Ingress } from "@kubernetes/client-node";
import { admitPolicy, defaultPolicySection } from "../admission/index.ts";
import { compareStrings, formatKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import {
  type AffinitySpec,
  type LoadBalancerPolicy,
  POLICY_API_VERSION,
  POLICY_KIND,
  type TlsSpec,
} from "../api/policy.ts";
import { validatePolicyDurations } from "./clusters.ts";
import { Reason } from "./reasons.ts";
import type { Reporter } from "./reporter.ts";
import { ingressSubject } from "./subjects.ts";

/** ingress-nginx's default annotation prefix (a controller started with --annotations-prefix is not followed). */
export const NGINX_PREFIX = "nginx.ingress.kubernetes.io/";

/**
 * drainTimeout that session-cookie-change-on-failure "false" gets: Kubernetes' default
 * terminationGracePeriodSeconds, as long as a pod with default settings may serve while terminating.
 */
export const DRAIN_TIMEOUT_FOR_NO_CHANGE_ON_FAILURE = "30s";

/** Largest number of seconds a policy duration can hold: 99999h59m59s (the schema allows 5 digits). */
const MAX_SECONDS = 99_999 * 3600 + 59 * 60 + 59;

/** Stands for the CA Secret in suggested fragments (the policy's namespace must hold it). */
const CA_PLACEHOLDER = "<Secret of this namespace with ca.crt>";

/** Sections made from an Ingress's annotations, for resolveEffectivePolicy. */
export interface AnnotationSections {
  /** The tls section, and the policy whose section completed it (undefined: the schema's defaults). */
  tls?: { spec: TlsSpec; from: LoadBalancerPolicy | undefined };
  /** The affinity section, completed from the IngressClass policy's or the schema's defaults. */
  affinity?: AffinitySpec;
}

type Group = "tls" | "affinity";
type Json = Record<string, unknown>;

/** The sections being assembled, as plain JSON for admission. */
interface Draft {
  tls: Json | undefined;
  affinity: Json | undefined;
}

/** What one honoured annotation does to the draft. */
interface Overlay {
  /** Annotation name without the prefix. */
  name: string;
  value: string;
  group: Group;
  /** Policy fields it writes: an admission error on one of them is blamed on this annotation. */
  fields: readonly string[];
  apply(draft: Draft): void;
  /** The same setting as a fragment of spec.<group>, for the suggestion; none when no field says it. */
  fragment?: Json;
  /** What the user should know beyond the fragment (a difference in behaviour). */
  note?: string;
}

/** Annotations of each section, in the order they are applied (later ones win). */
const GROUPS: Record<Group, readonly string[]> = {
  affinity: [
    "affinity",
    "affinity-mode",
    "session-cookie-name",
    "session-cookie-path",
    "session-cookie-domain",
    "session-cookie-max-age",
    "session-cookie-expires",
    "session-cookie-samesite",
    "session-cookie-secure",
    "session-cookie-change-on-failure",
    "session-cookie-conditional-samesite-none",
  ],
  tls: ["backend-protocol", "ssl-redirect", "force-ssl-redirect"],
};

const KNOWN = new Set([...GROUPS.affinity, ...GROUPS.tls]);

/** backend-protocol values ingress-nginx accepted (over its versions) that Portcullis cannot speak. */
const UNSUPPORTED_PROTOCOLS = new Set(["GRPC", "GRPCS", "AJP", "FCGI", "AUTO_HTTP"]);

/** Go's strconv.ParseBool, which ingress-nginx uses for boolean annotations. */
const BOOLEANS: Record<string, boolean> = {
  "1": true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  "0": false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

const SAME_SITE: Record<string, string> = { none: "None", lax: "Lax", strict: "Strict" };

/**
 * Reads the ingress-nginx annotations of one Ingress of our class into policy sections, reporting on
 * the Ingress what each became. `ingressPolicy` and `classPolicy` are the accepted policies attached to
 * it (see attach.ts).
 */
export function compileNginxAnnotations(
  ingress: V1Ingress,
  ingressPolicy: LoadBalancerPolicy | undefined,
  classPolicy: LoadBalancerPolicy | undefined,
  reporter: Reporter,
): AnnotationSections {
  const present = new Map<string, string>();
  for (const [key, value] of Object.entries(ingress.metadata?.annotations ?? {})) {
    if (key.startsWith(NGINX_PREFIX)) present.set(key.slice(NGINX_PREFIX.length), value);
  }
  if (present.size === 0) return {};

  const subject = ingressSubject(ingress);
  const field = (name: string): string => `metadata.annotations["${NGINX_PREFIX}${name}"]`;
  const warn = (name: string, reason: Reason, message: string): void =>
    reporter.warning(subject, reason, field(name), message);
  const invalid = (name: string, value: string, why: string): void =>
    warn(name, Reason.Invalid, `${JSON.stringify(value)} is ignored: ${why}`);

  const unknown = [...present.keys()].filter((name) => !KNOWN.has(name)).sort(compareStrings);
  if (unknown.length > 0) {
    reporter.warning(
      subject,
      Reason.UnsupportedAnnotation,
      "metadata.annotations",
      `ingress-nginx annotations Portcullis does not implement have no effect: ${unknown
        .map((name) => `"${NGINX_PREFIX}${name}"`)
        .join(", ")}`,
    );
  }

  // A section set by a policy targeting the Ingress wins whole over the annotations.
  const open: Record<Group, boolean> = { tls: true, affinity: true };
  for (const group of ["tls", "affinity"] as const) {
    if (!ingressPolicy || ingressPolicy.spec[group] === undefined) continue;
    open[group] = false;
    for (const name of GROUPS[group]) {
      if (!present.has(name)) continue;
      warn(
        name,
        Reason.Ignored,
        `overridden by spec.${group} of LoadBalancerPolicy "${formatKey(keyOf(ingressPolicy))}", which targets this Ingress`,
      );
    }
  }

  const overlays: Overlay[] = [];
  const context: ReadContext = { present, classPolicy, warn, invalid, overlays };
  if (open.affinity) readAffinity(context);
  const unverifiable = open.tls && readTls(context);

  const fixedTls = ingressPolicy?.spec.tls ?? classPolicy?.spec.tls;
  const { spec, honoured } = validate(overlays, fixedTls, invalid, warn);

  for (const overlay of honoured) {
    // The affinity annotation shows the whole section in force (a policy's section is taken whole).
    const whole = overlay.name === "affinity" ? spec.affinity : undefined;
    const fragment = whole ? withoutDefaults(whole, affinityDefaults()) : overlay.fragment;
    const classTls =
      overlay.group === "tls" && classPolicy?.spec.tls
        ? `, and copy in the other spec.tls fields of the IngressClass's policy "${formatKey(keyOf(classPolicy))}" (a section is taken whole)`
        : "";
    const parts = [
      overlay.note,
      fragment &&
        `use a LoadBalancerPolicy with ${whole ? `spec.affinity: ${flow(fragment)}` : describe(`spec.${overlay.group}`, fragment)}${classTls}`,
    ].filter((part): part is string => part !== undefined);
    warn(overlay.name, Reason.DeprecatedAnnotation, parts.join("; "));
  }

  const sections: AnnotationSections = {};
  if (honoured.some((o) => o.name === "affinity") && spec.affinity)
    sections.affinity = spec.affinity;
  if (unverifiable || honoured.some((o) => o.group === "tls")) {
    const tls: TlsSpec = spec.tls ?? defaultPolicySection("tls");
    if (unverifiable) {
      // Fail closed: Reencrypt without upstream gives the routes no endpoints (compile.ts #addCluster).
      const { upstream: _none, ...rest } = tls;
      sections.tls = {
        spec: { ...rest, mode: "Reencrypt" },
        from: classPolicy?.spec.tls && classPolicy,
      };
      reporter.error(
        subject,
        Reason.BackendNotVerifiable,
        field("backend-protocol"),
        `re-encryption needs a CA to verify the backends, and an annotation cannot name one: the routes answer 503 until a LoadBalancerPolicy sets ${describe("spec.tls", { mode: "Reencrypt", upstream: { caSecretName: CA_PLACEHOLDER } })}`,
      );
    } else {
      sections.tls = { spec: tls, from: classPolicy?.spec.tls && classPolicy };
    }
  }
  return sections;
}

interface ReadContext {
  present: ReadonlyMap<string, string>;
  classPolicy: LoadBalancerPolicy | undefined;
  warn(name: string, reason: Reason, message: string): void;
  invalid(name: string, value: string, why: string): void;
  overlays: Overlay[];
}

/** The cookie object of the affinity draft (present once the affinity overlay ran). */
function cookieOf(draft: Draft): Json | undefined {
  const cookie = draft.affinity?.cookie;
  return typeof cookie === "object" && cookie !== null ? (cookie as Json) : undefined;
}

function readAffinity(context: ReadContext): void {
  const { present, classPolicy, warn, invalid, overlays } = context;
  const type = present.get("affinity");
  let enabled = false;
  if (type !== undefined) {
    if (type === "cookie") {
      enabled = true;
      overlays.push({
        name: "affinity",
        value: type,
        group: "affinity",
        fields: ["spec.affinity"],
        apply: (draft) => {
          draft.affinity = structuredClone(classPolicy?.spec.affinity ?? { cookie: {} }) as Json;
        },
      });
    } else {
      invalid("affinity", type, 'the only affinity type is "cookie" (as in ingress-nginx)');
    }
  }

  /** An annotation that sets one cookie attribute (`setting`, read from `value`). */
  const cookieField = (
    name: string,
    value: string,
    key: string,
    setting: unknown,
    { note, fields = [`spec.affinity.cookie.${key}`] }: { note?: string; fields?: string[] } = {},
  ): void => {
    overlays.push({
      name,
      value,
      group: "affinity",
      fields,
      apply: (draft) => {
        const cookie = cookieOf(draft);
        if (cookie) cookie[key] = setting;
      },
      fragment: { cookie: { [key]: setting } },
      ...(note === undefined ? {} : { note }),
    });
  };

  const maxAge = present.get("session-cookie-max-age");
  for (const name of GROUPS.affinity) {
    const value = present.get(name);
    if (value === undefined || name === "affinity") continue;
    if (name === "session-cookie-conditional-samesite-none") {
      warn(
        name,
        Reason.UnsupportedAnnotation,
        "Portcullis does not vary cookie attributes by User-Agent; SameSite is sent as configured to every browser",
      );
      continue;
    }
    if (!enabled) {
      warn(name, Reason.Ignored, `has no effect without ${NGINX_PREFIX}affinity: "cookie"`);
      continue;
    }
    switch (name) {
      case "affinity-mode":
        if (value === "persistent") {
          overlays.push({
            name,
            value,
            group: "affinity",
            fields: [],
            apply: () => {},
            note: "a pin stays on its endpoint while that endpoint is healthy, as Portcullis always does; no policy field is needed",
          });
        } else if (value === "balanced") {
          overlays.push({
            name,
            value,
            group: "affinity",
            fields: [],
            apply: () => {},
            note: 'closest equivalent: pins stay on their endpoint while it is healthy and new users are balanced over new endpoints, but existing pins are not moved to them as "balanced" did; no policy field is needed',
          });
        } else {
          invalid(name, value, 'supported values: "balanced", "persistent"');
        }
        break;
      case "session-cookie-name":
        cookieField(name, value, "name", value);
        break;
      case "session-cookie-path":
        cookieField(name, value, "path", value);
        break;
      case "session-cookie-domain":
        cookieField(name, value, "domain", value);
        break;
      case "session-cookie-max-age":
      case "session-cookie-expires": {
        if (name === "session-cookie-expires" && maxAge !== undefined) {
          warn(
            name,
            Reason.Ignored,
            `superseded by ${NGINX_PREFIX}session-cookie-max-age (browsers use Max-Age when both are sent)`,
          );
          break;
        }
        const seconds = parseSeconds(value);
        if (typeof seconds === "string") {
          invalid(name, value, seconds);
          break;
        }
        cookieField(
          name,
          value,
          "maxAge",
          formatSeconds(seconds),
          name === "session-cookie-expires"
            ? { note: "sent as Max-Age (the same lifetime), not as an Expires date" }
            : {},
        );
        break;
      }
      case "session-cookie-samesite":
        // Browsers read SameSite case-insensitively; an unknown value goes to admission, which names the allowed ones.
        cookieField(name, value, "sameSite", SAME_SITE[value.trim().toLowerCase()] ?? value, {
          fields: ["spec.affinity.cookie.sameSite", "spec.affinity.cookie.secure"],
        });
        break;
      case "session-cookie-secure": {
        const secure = BOOLEANS[value.trim()];
        if (secure === undefined) {
          invalid(name, value, 'must be "true" or "false"');
          break;
        }
        cookieField(
          name,
          value,
          "secure",
          secure,
          secure
            ? {}
            : {
                note: "the cookie is then never marked Secure, even over HTTPS (ingress-nginx still marked it Secure on HTTPS requests)",
              },
        );
        break;
      }
      case "session-cookie-change-on-failure": {
        const change = BOOLEANS[value.trim()];
        if (change === undefined) {
          invalid(name, value, 'must be "true" or "false"');
          break;
        }
        const base = classPolicy?.spec.affinity;
        const drainTimeout =
          base?.onEndpointLoss === "Drain" && base.drainTimeout !== undefined
            ? base.drainTimeout
            : DRAIN_TIMEOUT_FOR_NO_CHANGE_ON_FAILURE;
        overlays.push({
          name,
          value,
          group: "affinity",
          fields: ["spec.affinity.onEndpointLoss", "spec.affinity.drainTimeout"],
          apply: (draft) => {
            const affinity = draft.affinity;
            if (!affinity) return;
            if (change) {
              affinity.onEndpointLoss = "Repin";
              delete affinity.drainTimeout;
            } else {
              affinity.onEndpointLoss = "Drain";
              affinity.drainTimeout = drainTimeout;
            }
          },
          fragment: change
            ? { onEndpointLoss: "Repin" }
            : { onEndpointLoss: "Drain", drainTimeout },
          note: change
            ? "a user whose endpoint fails or leaves is pinned to a healthy one"
            : `closest equivalent: a pinned user stays on a terminating endpoint for up to ${drainTimeout}; an endpoint that fails its health checks is always re-pinned`,
        });
        break;
      }
    }
  }
}

/** Reads the tls annotations; true when backend-protocol asks for re-encryption no CA can verify. */
function readTls(context: ReadContext): boolean {
  const { present, classPolicy, warn, invalid, overlays } = context;
  let unverifiable = false;
  const protocol = present.get("backend-protocol");
  if (protocol !== undefined) {
    const upper = protocol.trim().toUpperCase();
    const base = classPolicy?.spec.tls;
    if (upper === "HTTP") {
      overlays.push({
        name: "backend-protocol",
        value: protocol,
        group: "tls",
        fields: ["spec.tls.mode", "spec.tls.upstream"],
        apply: (draft) => {
          draft.tls ??= {};
          draft.tls.mode = "Terminate";
          delete draft.tls.upstream;
        },
        fragment: { mode: "Terminate" },
        note:
          base?.mode === "Reencrypt" && classPolicy
            ? `plain HTTP to the backends, though the IngressClass's policy "${formatKey(keyOf(classPolicy))}" re-encrypts`
            : "plain HTTP to the backends",
      });
    } else if (upper === "HTTPS") {
      if (base?.mode === "Reencrypt" && base.upstream && classPolicy) {
        const classKey = formatKey(keyOf(classPolicy));
        overlays.push({
          name: "backend-protocol",
          value: protocol,
          group: "tls",
          fields: ["spec.tls.mode", "spec.tls.upstream"],
          apply: (draft) => {
            draft.tls ??= {};
            draft.tls.mode = "Reencrypt";
          },
          fragment: { mode: "Reencrypt", upstream: { caSecretName: CA_PLACEHOLDER } },
          note: `the IngressClass's policy "${classKey}" re-encrypts already, verifying backends with its CA`,
        });
      } else {
        unverifiable = true;
      }
    } else if (UNSUPPORTED_PROTOCOLS.has(upper)) {
      warn(
        "backend-protocol",
        Reason.UnsupportedAnnotation,
        `backend protocol ${upper} is not supported: requests are forwarded to the backends as HTTP/1.1${upper === "GRPCS" ? " over plain TCP" : ""}, which they are unlikely to answer`,
      );
    } else {
      invalid("backend-protocol", protocol, 'supported values: "HTTP", "HTTPS"');
    }
  }

  const force = parseBoolean(present, "force-ssl-redirect", invalid);
  const redirect = parseBoolean(present, "ssl-redirect", invalid);
  if (redirect !== undefined) {
    if (force === true) {
      warn(
        "ssl-redirect",
        Reason.Ignored,
        `overridden by ${NGINX_PREFIX}force-ssl-redirect: "true" (as in ingress-nginx)`,
      );
    } else {
      overlays.push(redirectOverlay("ssl-redirect", present, redirect));
    }
  }
  if (force === true) {
    overlays.push({
      ...redirectOverlay("force-ssl-redirect", present, true),
      note: "only hosts Portcullis serves over HTTPS are redirected (TLS ended in front of it is not detected)",
    });
  } else if (force === false) {
    overlays.push({
      name: "force-ssl-redirect",
      value: present.get("force-ssl-redirect") ?? "",
      group: "tls",
      fields: [],
      apply: () => {},
      note: `has no effect (${NGINX_PREFIX}ssl-redirect decides, default "true"); no policy field is needed`,
    });
  }
  return unverifiable;
}

function redirectOverlay(
  name: string,
  present: ReadonlyMap<string, string>,
  httpRedirect: boolean,
): Overlay {
  return {
    name,
    value: present.get(name) ?? "",
    group: "tls",
    fields: ["spec.tls.httpRedirect"],
    apply: (draft) => {
      draft.tls ??= {};
      draft.tls.httpRedirect = httpRedirect;
    },
    fragment: { httpRedirect },
  };
}

function parseBoolean(
  present: ReadonlyMap<string, string>,
  name: string,
  invalid: ReadContext["invalid"],
): boolean | undefined {
  const value = present.get(name);
  if (value === undefined) return undefined;
  const parsed = BOOLEANS[value.trim()];
  if (parsed === undefined) invalid(name, value, 'must be "true" or "false"');
  return parsed;
}

/** Builds the sections and admits them as a policy would be; annotations admission refuses are dropped. */
function validate(
  overlays: readonly Overlay[],
  fixedTls: TlsSpec | undefined,
  invalid: ReadContext["invalid"],
  warn: ReadContext["warn"],
): { spec: { tls?: TlsSpec; affinity?: AffinitySpec }; honoured: Overlay[] } {
  let active = [...overlays];
  // Each round drops at least one annotation, so this ends; the last round admits no annotation at all.
  for (let round = 0; round <= overlays.length; round++) {
    const draft: Draft = {
      tls: fixedTls && (structuredClone(fixedTls) as Json),
      affinity: undefined,
    };
    for (const overlay of active) overlay.apply(draft);
    const spec: Json = { targetRefs: [{ kind: "Ingress", name: "annotations" }] };
    if (draft.tls) spec.tls = draft.tls;
    if (draft.affinity) spec.affinity = draft.affinity;
    const admission = admitPolicy({
      apiVersion: POLICY_API_VERSION,
      kind: POLICY_KIND,
      metadata: { name: "annotations", namespace: "default" },
      spec,
    });
    const admitted = admission.object.spec;
    const errors =
      admission.errors.length > 0
        ? admission.errors
        : validatePolicyDurations(admitted).map((e) => ({
            field: e.field,
            message: `${e.field}: ${e.message}`,
          }));
    if (errors.length === 0) {
      return {
        spec: {
          ...(admitted.tls ? { tls: admitted.tls } : {}),
          ...(admitted.affinity ? { affinity: admitted.affinity } : {}),
        },
        honoured: active,
      };
    }
    const blamed = new Map<Overlay, string>();
    for (const error of errors) {
      if (error.field === "") continue; // "some validation rules were not checked": follows another error
      const culprit = active.find((o) => o.fields.includes(error.field));
      const culprits = culprit
        ? [culprit]
        : active.filter((o) => error.field.startsWith(`spec.${o.group}`));
      for (const o of culprits) if (!blamed.has(o)) blamed.set(o, error.message);
    }
    if (blamed.size === 0) {
      for (const o of active) blamed.set(o, errors[0]?.message ?? "refused by admission");
    }
    for (const [overlay, message] of blamed) invalid(overlay.name, overlay.value, message);
    active = active.filter((o) => !blamed.has(o));
    if (!active.some((o) => o.name === "affinity")) {
      for (const o of active.filter((o) => o.group === "affinity")) {
        warn(o.name, Reason.Ignored, `has no effect: ${NGINX_PREFIX}affinity was ignored`);
      }
      active = active.filter((o) => o.group !== "affinity");
    }
  }
  return { spec: {}, honoured: [] };
}

let cachedAffinityDefaults: Json | undefined;

/** The affinity section a policy gets from `affinity: { cookie: {} }`: the schema's defaults. */
function affinityDefaults(): Json {
  cachedAffinityDefaults ??= admitPolicy({
    apiVersion: POLICY_API_VERSION,
    kind: POLICY_KIND,
    metadata: { name: "defaults", namespace: "default" },
    spec: { targetRefs: [{ kind: "Ingress", name: "defaults" }], affinity: { cookie: {} } },
  }).object.spec.affinity as unknown as Json;
  return cachedAffinityDefaults;
}

/** The fields of `section` a policy has to write to get it: those that differ from the defaults. */
function withoutDefaults(section: object, defaults: Json): Json {
  const result: Json = {};
  for (const [key, value] of Object.entries(section)) {
    const fallback = defaults[key];
    if (isObject(value)) {
      result[key] = withoutDefaults(value, isObject(fallback) ? fallback : {});
    } else if (value !== fallback) {
      result[key] = value;
    }
  }
  return result;
}

/** `spec.affinity.cookie.name: "route"`, or `spec.affinity: { onEndpointLoss: "Drain", drainTimeout: "30s" }`. */
function describe(prefix: string, fragment: Json): string {
  let path = prefix;
  let value: unknown = fragment;
  while (isObject(value)) {
    const entries = Object.entries(value);
    const only = entries[0];
    if (entries.length !== 1 || only === undefined) break;
    path += `.${only[0]}`;
    value = only[1];
  }
  return `${path}: ${flow(value)}`;
}

/** A value as one line of YAML flow style. */
function flow(value: unknown): string {
  if (isObject(value)) {
    const entries = Object.entries(value);
    return entries.length === 0
      ? "{}"
      : `{ ${entries.map(([k, v]) => `${k}: ${flow(v)}`).join(", ")} }`;
  }
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Whole seconds as ingress-nginx reads them, or why not. 0 is passed on: admission refuses it. */
function parseSeconds(text: string): number | string {
  const trimmed = text.trim();
  if (!/^[0-9]+$/.test(trimmed)) return "must be a whole number of seconds";
  const seconds = Number(trimmed);
  if (seconds > MAX_SECONDS) return `must be at most ${MAX_SECONDS} seconds`;
  return seconds;
}

/** 172800 → "48h", 5400 → "1h30m", 0 → "0s": the duration syntax of the policy API. */
export function formatSeconds(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const text = `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
  return text === "" ? "0s" : text;
}
