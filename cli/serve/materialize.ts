// What `portcullis serve` writes for the proxy, laid out as a pod would see its volumes: the compiled
// config, each referenced Secret's files (tls.crt, tls.key, ca.crt) under secrets/NAMESPACE/NAME/, and
// the shared keys. Every file is replaced atomically and unchanged files are left alone.
import { join } from "node:path";
import type { V1Secret } from "@kubernetes/client-node";
import { writeAtomically } from "../../operator/api/atomic-file.ts";
import { formatKey } from "../../operator/api/keys.ts";
import { keyOf } from "../../operator/api/objects.ts";
import type { ProxyConfig } from "../../proxy/config/types.ts";
import { AFFINITY_SECRET_FILE, SHARED_KEYS_LABEL, TICKET_SECRET_FILE } from "../../proxy/keys.ts";

/** Files a Secret may contribute. */
const SECRET_FILES = ["tls.crt", "tls.key", "ca.crt"] as const;

function secretData(secret: V1Secret, key: string): Buffer | undefined {
  const value = secret.data?.[key];
  return value === undefined ? undefined : Buffer.from(value, "base64");
}

/** Writes the files of the Secrets the config references. */
export async function writeSecrets(
  config: ProxyConfig,
  secrets: readonly V1Secret[],
  secretsDir: string,
): Promise<void> {
  const wanted = new Set([
    ...config.certificates.map((c) => c.name),
    ...config.caBundles.map((c) => c.name),
  ]);
  for (const secret of secrets) {
    const key = formatKey(keyOf(secret));
    if (!wanted.has(key)) continue;
    for (const file of SECRET_FILES) {
      const data = secretData(secret, file);
      if (data) await writeAtomically(join(secretsDir, key, file), data);
    }
  }
}

/**
 * Writes the shared keys from the Secret labelled portcullis.dev/shared-keys=true, as the operator's
 * Secret is mounted in a pod. Returns the directory, or undefined when there is no such Secret.
 */
export async function writeSharedKeys(
  secrets: readonly V1Secret[],
  keysDir: string,
): Promise<string | undefined> {
  const secret = secrets.find((s) => s.metadata?.labels?.[SHARED_KEYS_LABEL] === "true");
  if (!secret) return undefined;
  for (const file of [TICKET_SECRET_FILE, AFFINITY_SECRET_FILE]) {
    const data = secretData(secret, file);
    if (!data) throw new Error(`Secret "${formatKey(keyOf(secret))}" has no data["${file}"]`);
    await writeAtomically(join(keysDir, file), data);
  }
  return keysDir;
}
