// The certificates the HTTPS listener serves, kept in step with the files on disk.
//
// Kubernetes updates a mounted Secret by writing a new timestamped directory and atomically swapping
// the `..data` symlink that `tls.crt` and `tls.key` point through. fs.watch on the volume directory
// usually reports that swap, but not always (inotify watches the directory, and events for symlink
// targets are easily missed), so the store also polls: every second it stats both files (following
// symlinks) and re-reads a pair whose identity changed. New handshakes see a new certificate within
// about a second; established connections keep the context they were handshaken with; a pair that
// fails to load leaves the previous certificate in service and is reported.
import { type FSWatcher, watch } from "node:fs";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext } from "node:tls";
import type { SecretBytes } from "../config/secret-bytes.ts";
import type { CertificateConfig, ProxyConfig } from "../config/types.ts";
import type { ProxyLogger, ProxyMetrics } from "../observability/ports.ts";
import {
  fileFingerprint,
  type LoadedCertificate,
  loadCertificateFiles,
  sameCertificateContent,
} from "./certificate-files.ts";
import { buildSecureContextOptions, type TlsProfile } from "./tls-settings.ts";
import { buildTlsSnapshot, type TlsSnapshot } from "./tls-snapshot.ts";

/** Options of CertificateStore. */
export interface CertificateStoreOptions {
  readonly logger: ProxyLogger;
  readonly metrics: ProxyMetrics;
  /** How often the files are stat'ed, in milliseconds. Default 1000. */
  readonly pollIntervalMs?: number | undefined;
  /** Delay between a watch event and the check it triggers (events come in bursts), ms. Default 50. */
  readonly watchDebounceMs?: number | undefined;
  /** Watch the directories with fs.watch as well as polling. Default true (false: polling only). */
  readonly watchDirectories?: boolean | undefined;
}

/** Called with the new snapshot after every swap. */
export type SnapshotListener = (snapshot: TlsSnapshot) => void;

type ContextCache = Map<LoadedCertificate, Map<string, SecureContext>>;

interface Slot {
  entry: CertificateConfig;
  /** The pair in service, if any load ever succeeded. */
  loaded: LoadedCertificate | undefined;
  /** Fingerprint of the last attempt (successful or not), so a broken file is reported once. */
  attempted: string | undefined;
}

/**
 * Loads the config's certificates, builds the SNI contexts the virtual hosts need, and swaps in a
 * new TlsSnapshot whenever the config or a certificate file changes.
 */
export class CertificateStore {
  readonly #logger: ProxyLogger;
  readonly #metrics: ProxyMetrics;
  readonly #pollIntervalMs: number;
  readonly #watchDebounceMs: number;
  readonly #watchDirectories: boolean;
  readonly #listeners = new Set<SnapshotListener>();
  readonly #slots = new Map<string, Slot>();
  /** Contexts by loaded pair (object identity: a reload makes a new one) and profile key. */
  #contexts: ContextCache = new Map();
  #config: ProxyConfig | undefined;
  #snapshot: TlsSnapshot;
  #ticketKeys: SecretBytes | undefined;
  #watchers = new Map<string, FSWatcher>();
  #pollTimer: NodeJS.Timeout | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  /** Serialises config updates and file checks, so they never interleave. */
  #queue: Promise<void> = Promise.resolve();
  #checkQueued = false;
  #closed = false;

  constructor(options: CertificateStoreOptions) {
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#watchDebounceMs = options.watchDebounceMs ?? 50;
    this.#watchDirectories = options.watchDirectories ?? true;
    this.#snapshot = this.#build();
  }

  /** The snapshot in force: what a handshake starting now gets. */
  get snapshot(): TlsSnapshot {
    return this.#snapshot;
  }

  /** Subscribes to swaps; returns the unsubscribe function. */
  onChange(listener: SnapshotListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Applies a config: loads every `certificates[]` entry not already loaded from the same paths,
   * rebuilds the snapshot and swaps it in, and watches the new set of files. Resolves once the new
   * snapshot is in force. Entries that fail to load keep their previous certificate, if any.
   */
  update(config: ProxyConfig): Promise<void> {
    return this.#enqueue(async () => {
      const wanted = new Map(config.certificates.map((entry) => [entry.name, entry]));
      for (const name of this.#slots.keys()) if (!wanted.has(name)) this.#slots.delete(name);
      await Promise.all(
        [...wanted.values()].map(async (entry) => {
          const slot = this.#slots.get(entry.name);
          if (
            slot &&
            slot.entry.certFile === entry.certFile &&
            slot.entry.keyFile === entry.keyFile
          ) {
            slot.entry = entry;
            return;
          }
          const fresh: Slot = { entry, loaded: slot?.loaded, attempted: undefined };
          this.#slots.set(entry.name, fresh);
          await this.#load(fresh);
        }),
      );
      this.#config = config;
      this.#swap();
      this.#rewatch();
    });
  }

  /**
   * Sets the session-ticket keys on every SNI context, and on contexts built later. Node 26 encrypts
   * and decrypts tickets only with the keys of the server's initial context (it never switches the
   * SSL_CTX on SNI), so this is a safeguard for Node versions that do; see README.md.
   */
  setTicketKeys(keys: SecretBytes): void {
    this.#ticketKeys = keys;
    for (const byProfile of this.#contexts.values()) {
      for (const context of byProfile.values()) applyTicketKeys(context, keys);
    }
  }

  /** Checks every file now instead of at the next poll. Resolves when the check is done. */
  checkNow(): Promise<void> {
    return this.#enqueue(() => this.#checkFiles());
  }

  /** Stops watching and polling. The snapshot stays usable. */
  close(): void {
    this.#closed = true;
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    clearInterval(this.#pollTimer);
    clearTimeout(this.#debounceTimer);
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    // A failed task must not wedge the queue; its caller sees the rejection.
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Loads a slot's files; on failure keeps what it had and reports. Returns whether it changed.
   * The fingerprint is recorded before reading, so a change racing with the read is retried.
   */
  async #load(slot: Slot, fingerprint?: string): Promise<boolean> {
    const { entry } = slot;
    slot.attempted = fingerprint ?? (await fileFingerprint(entry));
    try {
      const loaded = await loadCertificateFiles(entry, slot.attempted);
      // Same bytes (a touched file, a swap to identical content): keep the contexts built for them.
      if (slot.loaded && sameCertificateContent(slot.loaded, loaded)) return false;
      slot.loaded = loaded;
      const { served } = loaded;
      this.#metrics.certificateReload(entry.name, "ok");
      this.#metrics.certificateExpiry(entry.name, Math.floor(served.notAfter.getTime() / 1000));
      this.#logger.info("Loaded certificate", {
        certificate: entry.name,
        sha256: served.sha256,
        notAfter: served.notAfter.toISOString(),
        dnsNames: served.dnsNames.join(","),
      });
      if (served.notAfter.getTime() < Date.now()) {
        this.#logger.warn("Loaded an expired certificate", { certificate: entry.name });
      }
      return true;
    } catch (error) {
      this.#metrics.certificateReload(entry.name, "error");
      this.#logger.error("Failed to load certificate", {
        certificate: entry.name,
        certFile: entry.certFile,
        keyFile: entry.keyFile,
        error: error instanceof Error ? error.message : String(error),
        kept: slot.loaded ? slot.loaded.served.sha256 : null,
      });
      return false;
    }
  }

  async #checkFiles(): Promise<void> {
    const changed = await Promise.all(
      [...this.#slots.values()].map(async (slot) => {
        const fingerprint = await fileFingerprint(slot.entry);
        if (fingerprint === slot.attempted) return false;
        return this.#load(slot, fingerprint);
      }),
    );
    if (changed.some(Boolean)) this.#swap();
  }

  /** Queues one file check, coalescing requests that arrive while one is waiting. */
  #requestCheck(): void {
    if (this.#checkQueued || this.#closed) return;
    this.#checkQueued = true;
    void this.#enqueue(async () => {
      this.#checkQueued = false;
      await this.#checkFiles();
    }).catch((error: unknown) => {
      this.#logger.error("Failed to check certificate files", {
        error: error instanceof Error ? error.message : String(error),
      });
    });
  }

  #swap(): void {
    this.#snapshot = this.#build();
    for (const listener of this.#listeners) {
      try {
        listener(this.#snapshot);
      } catch (error) {
        this.#logger.error("Certificate snapshot listener failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  #build(): TlsSnapshot {
    const certificates = new Map<string, LoadedCertificate>();
    for (const [name, slot] of this.#slots) if (slot.loaded) certificates.set(name, slot.loaded);
    const previous = this.#contexts;
    const next: ContextCache = new Map();
    const snapshot = buildTlsSnapshot({
      config: this.#config,
      certificates,
      contextFor: (loaded, profile, profileKey) => {
        let context = next.get(loaded)?.get(profileKey) ?? previous.get(loaded)?.get(profileKey);
        if (!context) {
          context = this.#createContext(loaded, profile);
          if (!context) return undefined;
        }
        let byProfile = next.get(loaded);
        if (!byProfile) {
          byProfile = new Map();
          next.set(loaded, byProfile);
        }
        byProfile.set(profileKey, context);
        return context;
      },
    });
    // Contexts no snapshot uses any more are dropped here; connections holding them keep them alive.
    this.#contexts = next;
    return snapshot;
  }

  #createContext(loaded: LoadedCertificate, profile: TlsProfile): SecureContext | undefined {
    try {
      const context = createSecureContext({
        ...buildSecureContextOptions(profile),
        cert: loaded.chainPem,
        key: loaded.key.reveal(),
        ...(this.#ticketKeys ? { ticketKeys: this.#ticketKeys.reveal() } : {}),
      });
      return context;
    } catch (error) {
      this.#logger.error("Failed to build TLS context", {
        certificate: loaded.entry.name,
        minVersion: profile.minVersion,
        ciphers: profile.ciphers,
        error: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
  }

  /** Watches the directories of the current files, and (re)starts the poll. */
  #rewatch(): void {
    if (this.#closed) return;
    const directories = new Set<string>();
    for (const slot of this.#watchDirectories ? this.#slots.values() : []) {
      directories.add(dirname(slot.entry.certFile));
      directories.add(dirname(slot.entry.keyFile));
    }
    for (const [directory, watcher] of this.#watchers) {
      if (!directories.has(directory)) {
        watcher.close();
        this.#watchers.delete(directory);
      }
    }
    for (const directory of directories) {
      if (this.#watchers.has(directory)) continue;
      try {
        const watcher = watch(directory, { persistent: false }, () => this.#onWatchEvent());
        // A directory removed under the watcher ends it; the poll carries on regardless.
        watcher.on("error", () => {
          watcher.close();
          this.#watchers.delete(directory);
        });
        this.#watchers.set(directory, watcher);
      } catch {
        // Missing directory (Secret not mounted yet): polling alone will notice it appearing.
      }
    }
    if (!this.#pollTimer) {
      this.#pollTimer = setInterval(() => this.#requestCheck(), this.#pollIntervalMs);
      this.#pollTimer.unref();
    }
  }

  #onWatchEvent(): void {
    if (this.#debounceTimer || this.#closed) return;
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#requestCheck();
    }, this.#watchDebounceMs);
    this.#debounceTimer.unref();
  }
}

/**
 * Sets ticket keys on an existing context. `context.context` is Node's native SecureContext (typed
 * `any` by @types/node); its setTicketKeys is what tls.Server#setTicketKeys itself calls.
 */
function applyTicketKeys(context: SecureContext, keys: SecretBytes): void {
  const native = context.context as { setTicketKeys?: (keys: Buffer) => void } | undefined;
  native?.setTicketKeys?.(keys.reveal());
}
