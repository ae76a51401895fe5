// The secrets every proxy process and replica share: the session-ticket secret (ticket keys are
// derived from it per rotation period) and the affinity-cookie signing key. In a cluster they come from
// a Secret mounted as files; on a laptop `portcullis serve` writes them from a Secret manifest, or
// generates them (then only that process group shares them, and it says so).
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SecretBytes } from "./config/secret-bytes.ts";
import { MIN_TICKET_SECRET_BYTES } from "./listener/tickets.ts";

/** File names inside the keys directory (and data keys of the shared-keys Secret). */
export const TICKET_SECRET_FILE = "ticket-secret";
export const AFFINITY_SECRET_FILE = "affinity-secret";
/** Optional: the previous affinity key, still accepted after a rotation so pins survive it. */
export const AFFINITY_PREVIOUS_FILE = "affinity-secret.previous";
/** Label marking the Secret manifest that carries the shared keys. */
export const SHARED_KEYS_LABEL = "portcullis.dev/shared-keys";
/** Shortest secret accepted: 256 bits (the ticket-key ring's own minimum, applied to both keys). */
export const MIN_SECRET_BYTES = MIN_TICKET_SECRET_BYTES;

export interface SharedKeys {
  ticketSecret: SecretBytes;
  /** Current signing key first; every key verifies. */
  affinityKeys: SecretBytes[];
  /** Whether the keys were generated here (not shared with other replicas). */
  generated: boolean;
}

async function readSecret(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Reads the shared keys from a directory; undefined when it holds none. Short keys are an error. */
export async function loadSharedKeys(dir: string): Promise<SharedKeys | undefined> {
  const ticket = await readSecret(join(dir, TICKET_SECRET_FILE));
  const affinity = await readSecret(join(dir, AFFINITY_SECRET_FILE));
  if (!ticket || !affinity) return undefined;
  for (const [name, value] of [
    [TICKET_SECRET_FILE, ticket],
    [AFFINITY_SECRET_FILE, affinity],
  ] as const) {
    if (value.length < MIN_SECRET_BYTES) {
      throw new Error(
        `${join(dir, name)} holds ${value.length} bytes; at least ${MIN_SECRET_BYTES} are required`,
      );
    }
  }
  const previous = await readSecret(join(dir, AFFINITY_PREVIOUS_FILE));
  const affinityKeys = [new SecretBytes(affinity)];
  if (previous && previous.length >= MIN_SECRET_BYTES) affinityKeys.push(new SecretBytes(previous));
  return { ticketSecret: new SecretBytes(ticket), affinityKeys, generated: false };
}

/** Fresh random keys, for a process group that has no shared ones. */
export function generateSharedKeys(): SharedKeys {
  return {
    ticketSecret: new SecretBytes(randomBytes(MIN_SECRET_BYTES)),
    affinityKeys: [new SecretBytes(randomBytes(MIN_SECRET_BYTES))],
    generated: true,
  };
}

/** A running watch of the keys directory; close() ends it. */
export interface SharedKeysWatch {
  close(): void;
}

/**
 * Re-reads the keys directory every `intervalMs` (Kubernetes updates a mounted Secret by swapping a
 * symlink, which file watches miss, and a rotation is rare, so a cheap poll is enough) and calls
 * `onAffinityKeys` when the affinity keys change — the operator rotates them, keeping the previous
 * one so that pins survive. A directory that cannot be read (mid-swap, or removed) keeps the keys in
 * use; `onError` hears why. The ticket secret never changes at runtime: ticket keys rotate by period.
 */
export function watchSharedKeys(
  dir: string,
  current: SharedKeys,
  onAffinityKeys: (keys: Buffer[]) => void,
  onError: (error: unknown) => void,
  intervalMs = 1000,
): SharedKeysWatch {
  let fingerprint = affinityFingerprint(current.affinityKeys.map((k) => k.reveal()));
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    loadSharedKeys(dir)
      .then((keys) => {
        if (!keys) return;
        const revealed = keys.affinityKeys.map((k) => k.reveal());
        const next = affinityFingerprint(revealed);
        if (next === fingerprint) return;
        fingerprint = next;
        onAffinityKeys(revealed);
      })
      .catch(onError)
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}

function affinityFingerprint(keys: readonly Buffer[]): string {
  const hash = createHash("sha256");
  for (const key of keys) hash.update(createHash("sha256").update(key).digest());
  return hash.digest("hex");
}
