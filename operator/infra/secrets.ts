// The Secrets the proxy pods mount. A pod can mount only Secrets of its own namespace, so every
// certificate or CA Secret the config references is copied ("mirrored") into the controller
// namespace, carrying only the keys the config reads. Which Secrets are mounted, and where, comes
// from the config's own file paths, checked to lie under the secrets directory. The shared-keys
// Secret is built apart: its contents are random, and the operator creates it only when absent.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { V1Secret } from "@kubernetes/client-node";
import { canonicalJson } from "../../proxy/config/canonical.ts";
import type { ProxyConfig } from "../../proxy/config/types.ts";
import {
  AFFINITY_PREVIOUS_FILE,
  AFFINITY_SECRET_FILE,
  MIN_SECRET_BYTES,
  SHARED_KEYS_LABEL,
  TICKET_SECRET_FILE,
} from "../../proxy/keys.ts";
import { compareStrings, formatKey, type ObjectKey, parseKey } from "../api/keys.ts";
import { keyOf } from "../api/objects.ts";
import { InvalidInfraConfigError, MissingSecretError } from "./errors.ts";
import { objectMeta } from "./metadata.ts";
import { infraNames, type MirrorKind, mirrorSecretName, mirrorVolumeName } from "./names.ts";
import type { InfraOwner, InfraSettings } from "./types.ts";

/** Label: namespace of a mirror's source Secret. */
export const SOURCE_NAMESPACE_LABEL = "portcullis.dev/source-namespace";
/**
 * Label: name of a mirror's source Secret. Left out when the name is longer than a label value
 * may be (63); the annotation below always carries the full "namespace/name".
 */
export const SOURCE_NAME_LABEL = "portcullis.dev/source-name";
/** Annotation: "namespace/name" of a mirror's source Secret. */
export const SOURCE_ANNOTATION = "portcullis.dev/source";

export const TLS_SECRET_TYPE = "kubernetes.io/tls";
export const OPAQUE_SECRET_TYPE = "Opaque";

/** Data keys a mirror may carry; each is mounted as the file of the same name. */
export type SecretFile = "tls.crt" | "tls.key" | "ca.crt";
const SECRET_FILES: readonly SecretFile[] = ["ca.crt", "tls.crt", "tls.key"];

/** One Secret the pods mount, as the config asks for it. */
export interface MirrorPlan {
  /** The Secret the data comes from. */
  source: ObjectKey;
  /** Its "namespace/name" (the certificate or CA bundle name in the config). */
  key: string;
  kind: MirrorKind;
  /** Keys copied and mounted, sorted: tls.crt and tls.key for a certificate, ca.crt for a CA bundle. */
  files: SecretFile[];
  /** Directory the config's paths point into; the volume is mounted there. */
  mountPath: string;
  /** Name of the mirror Secret. */
  secretName: string;
  /** Name of its volume in the pod. */
  volumeName: string;
}

/**
 * The Secrets the config reads files from, sorted by source. Throws InvalidInfraConfigError when a
 * path is not `<secretsDir>/.../<file>` with the file names the Secret volume provides, or when one
 * Secret's directory would be inside another's.
 */
export function planMirrors(config: ProxyConfig, settings: InfraSettings): MirrorPlan[] {
  const uses = new Map<string, { mountPath: string; files: Set<SecretFile> }>();
  const claim = (name: string, field: string, paths: [string, SecretFile][]): void => {
    const source = parseKey(name);
    if (source.namespace === "" || source.name === "")
      throw new InvalidInfraConfigError(`${field}.name: "${name}" is not "namespace/name"`);
    let mountPath: string | undefined;
    for (const [path, file] of paths) {
      const dir = posix.dirname(path);
      if (posix.basename(path) !== file)
        throw new InvalidInfraConfigError(
          `${field}: "${path}" must name the file "${file}" (a Secret volume's files are its keys)`,
        );
      if (posix.normalize(path) !== path || !dir.startsWith(`${settings.secretsDir}/`))
        throw new InvalidInfraConfigError(
          `${field}: "${path}" is not under the secrets directory ${settings.secretsDir}`,
        );
      if (mountPath !== undefined && dir !== mountPath)
        throw new InvalidInfraConfigError(
          `${field}: the files of "${name}" are in two directories (${mountPath}, ${dir})`,
        );
      mountPath = dir;
    }
    if (mountPath === undefined) return;
    const use = uses.get(name);
    if (use && use.mountPath !== mountPath)
      throw new InvalidInfraConfigError(
        `${field}: "${name}" is mounted at ${use.mountPath} and at ${mountPath}`,
      );
    const files = use?.files ?? new Set<SecretFile>();
    for (const [, file] of paths) files.add(file);
    uses.set(name, { mountPath, files });
  };
  config.certificates.forEach((certificate, i) => {
    claim(certificate.name, `certificates[${i}]`, [
      [certificate.certFile, "tls.crt"],
      [certificate.keyFile, "tls.key"],
    ]);
  });
  config.caBundles.forEach((bundle, i) => {
    claim(bundle.name, `caBundles[${i}]`, [[bundle.file, "ca.crt"]]);
  });

  const plans = [...uses.entries()]
    .map(([key, use]): MirrorPlan => {
      const source = parseKey(key);
      const kind: MirrorKind = use.files.has("tls.crt") ? "tls" : "ca";
      return {
        source,
        key,
        kind,
        files: SECRET_FILES.filter((file) => use.files.has(file)),
        mountPath: use.mountPath,
        secretName: mirrorSecretName(settings.namePrefix, kind, source),
        volumeName: mirrorVolumeName(kind, source),
      };
    })
    .sort((a, b) => compareStrings(a.key, b.key));

  const byName = new Map<string, string>();
  const byPath = new Map<string, string>();
  for (const plan of plans) {
    const shared = byPath.get(plan.mountPath);
    if (shared !== undefined)
      throw new InvalidInfraConfigError(
        `"${shared}" and "${plan.key}" would both be mounted at ${plan.mountPath}`,
      );
    byPath.set(plan.mountPath, plan.key);
  }
  for (const plan of plans) {
    const clash = byName.get(plan.secretName);
    if (clash !== undefined)
      throw new InvalidInfraConfigError(
        `Secrets "${clash}" and "${plan.key}" hash to the same mirror name ${plan.secretName}`,
      );
    byName.set(plan.secretName, plan.key);
    // A mount inside another's directory would hide or be hidden by it: check every ancestor.
    for (
      let dir = posix.dirname(plan.mountPath);
      dir !== settings.secretsDir;
      dir = posix.dirname(dir)
    ) {
      const outer = byPath.get(dir);
      if (outer !== undefined)
        throw new InvalidInfraConfigError(
          `"${plan.key}" (${plan.mountPath}) would be mounted inside "${outer}" (${dir})`,
        );
    }
  }
  return plans;
}

/**
 * Identity of the mounted Secret set: sources, mirror names, directories and files, but not their
 * contents. It changes (and rolls the pods) when a Secret is added, removed or needs other files;
 * a rotation of an existing Secret keeps it, and reaches the pods through kubelet's volume refresh.
 */
export function certificateSetHash(plans: readonly MirrorPlan[]): string {
  const identity = plans.map((p) => ({
    source: p.key,
    secret: p.secretName,
    mountPath: p.mountPath,
    files: p.files,
  }));
  return createHash("sha256").update(canonicalJson(identity)).digest("hex");
}

/** Base64 of one key of a Secret: stringData wins (manifests), then data (the API). */
function secretValue(secret: V1Secret, file: string): string | undefined {
  const plain = secret.stringData?.[file];
  if (plain !== undefined) return Buffer.from(plain, "utf8").toString("base64");
  return secret.data?.[file]?.replace(/\s+/g, "");
}

/** Label value for a Secret name when it is short enough to be one. */
function labelValue(name: string): Record<string, string> {
  return name.length <= 63 ? { [SOURCE_NAME_LABEL]: name } : {};
}

/**
 * The mirror Secrets of `plans`, from `secrets` (others are ignored). Throws MissingSecretError when
 * a planned source is absent or lacks a key: the compiler only references Secrets it has seen, so
 * this means the config and the Secrets handed over are from different snapshots.
 */
export function buildMirrorSecrets(
  plans: readonly MirrorPlan[],
  secrets: readonly V1Secret[],
  settings: InfraSettings,
  owner: InfraOwner,
): V1Secret[] {
  const byKey = new Map(secrets.map((secret) => [formatKey(keyOf(secret)), secret]));
  return plans.map((plan) => {
    const source = byKey.get(plan.key);
    if (!source)
      throw new MissingSecretError(
        `Secret "${plan.key}" is referenced by the config but not given`,
      );
    const data: Record<string, string> = {};
    for (const file of plan.files) {
      const value = secretValue(source, file);
      if (value === undefined)
        throw new MissingSecretError(
          `Secret "${plan.key}" has no "${file}" key, which the config reads`,
        );
      data[file] = value;
    }
    return {
      apiVersion: "v1",
      kind: "Secret",
      metadata: objectMeta(settings, owner, plan.secretName, "certificate-mirror", {
        labels: {
          [SOURCE_NAMESPACE_LABEL]: plan.source.namespace,
          ...labelValue(plan.source.name),
        },
        annotations: { [SOURCE_ANNOTATION]: plan.key },
      }),
      type: plan.kind === "tls" ? TLS_SECRET_TYPE : OPAQUE_SECRET_TYPE,
      data,
    };
  });
}

/** Source of randomness, e.g. node:crypto's randomBytes (a fixed one in tests). */
export type RandomBytes = (size: number) => Buffer;

function random(randomBytes: RandomBytes): string {
  const bytes = randomBytes(MIN_SECRET_BYTES);
  if (bytes.length !== MIN_SECRET_BYTES)
    throw new RangeError(`randomBytes returned ${bytes.length} bytes, not ${MIN_SECRET_BYTES}`);
  return bytes.toString("base64");
}

function sharedKeysSecret(
  settings: InfraSettings,
  owner: InfraOwner,
  data: Record<string, string>,
): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: objectMeta(
      settings,
      owner,
      infraNames(settings.namePrefix).sharedKeys,
      "shared-keys",
      {
        labels: { [SHARED_KEYS_LABEL]: "true" },
      },
    ),
    type: OPAQUE_SECRET_TYPE,
    data,
  };
}

/**
 * The shared-keys Secret `<prefix>-shared-keys`: ticket-secret and affinity-secret, 32 random bytes
 * each (ticket first, then affinity). Apply it only when absent (create, never overwrite): replacing
 * the keys would end every TLS session and affinity pin at once.
 */
export function buildSharedKeysSecret(
  settings: InfraSettings,
  randomBytes: RandomBytes,
  owner: InfraOwner,
): V1Secret {
  const ticket = random(randomBytes);
  const affinity = random(randomBytes);
  return sharedKeysSecret(settings, owner, {
    [AFFINITY_SECRET_FILE]: affinity,
    [TICKET_SECRET_FILE]: ticket,
  });
}

/**
 * The shared-keys Secret after rotating the affinity key: a new affinity-secret, the current one kept
 * as affinity-secret.previous (so cookies signed with it still pin), ticket-secret unchanged (ticket
 * keys rotate by period without touching the Secret).
 */
export function buildRotatedSharedKeysSecret(
  current: V1Secret,
  settings: InfraSettings,
  randomBytes: RandomBytes,
  owner: InfraOwner,
): V1Secret {
  const key = formatKey(keyOf(current));
  const ticket = current.data?.[TICKET_SECRET_FILE];
  const affinity = current.data?.[AFFINITY_SECRET_FILE];
  if (ticket === undefined || affinity === undefined)
    throw new MissingSecretError(
      `Secret "${key}" lacks "${TICKET_SECRET_FILE}" or "${AFFINITY_SECRET_FILE}"; cannot rotate`,
    );
  return sharedKeysSecret(settings, owner, {
    [AFFINITY_SECRET_FILE]: random(randomBytes),
    [AFFINITY_PREVIOUS_FILE]: affinity,
    [TICKET_SECRET_FILE]: ticket,
  });
}
