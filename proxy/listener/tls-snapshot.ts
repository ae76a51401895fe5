// One immutable answer to "what does a handshake for server name X get", built from the config and
// the certificates currently loaded. The certificate store swaps whole snapshots, so a handshake
// never sees half of a reload.
import type { SecureContext } from "node:tls";
import type { ProxyConfig } from "../config/types.ts";
import type { LoadedCertificate } from "./certificate-files.ts";
import type { ServedCertificate } from "./served-certificate.ts";
import { buildHostTable, type HostTable } from "./sni.ts";
import {
  buildTlsProfile,
  DEFAULT_TLS_PROFILE,
  type TlsProfile,
  tlsProfileKey,
} from "./tls-settings.ts";

/** What one handshake is served. */
export interface TlsSelection {
  /** The virtual host pattern that matched ("*.example.com", "*"), or "" for the default certificate. */
  readonly host: string;
  /** The certificate presented. */
  readonly certificate: ServedCertificate;
  /** Handshake settings of the host. */
  readonly profile: TlsProfile;
  /** tlsProfileKey(profile): which TLS server handles the connection. */
  readonly profileKey: string;
  /** The SNI context carrying the certificate (and, defensively, the profile's settings). */
  readonly context: SecureContext;
  /** Chain and key of the certificate, for a server's initial context (absent-SNI handshakes). */
  readonly credentials: Pick<LoadedCertificate, "chainPem" | "key">;
}

/** Every handshake decision for one (config, loaded certificates) state. */
export interface TlsSnapshot {
  /** Version of the config it was built from; undefined before the first config. */
  readonly configVersion: string | undefined;
  /**
   * The selection for a ClientHello server name: exact host, else one-label wildcard, else the "*"
   * host, else the default certificate when listener.unknownServerName is DefaultCertificate.
   * Undefined means the handshake is refused. A host whose certificate never loaded counts as unknown.
   */
  select(serverName: string | undefined): TlsSelection | undefined;
  /** What a name matching no host (or no name) gets; undefined when such handshakes are refused. */
  readonly fallback: TlsSelection | undefined;
  /** Every profile some selection uses, by key; never empty (DEFAULT_TLS_PROFILE when nothing else). */
  readonly profiles: ReadonlyMap<string, TlsProfile>;
  /** The profile of the server that takes what no host claims: the fallback's, or the only one. */
  readonly primaryProfileKey: string;
}

/** Inputs of buildTlsSnapshot. */
export interface TlsSnapshotInput {
  /** The config; undefined builds the empty snapshot (everything refused). */
  readonly config: ProxyConfig | undefined;
  /** Certificates loaded now, by name. */
  readonly certificates: ReadonlyMap<string, LoadedCertificate>;
  /** A context for (certificate, profile), or undefined if one cannot be built (reported by the callee). */
  contextFor(
    certificate: LoadedCertificate,
    profile: TlsProfile,
    profileKey: string,
  ): SecureContext | undefined;
}

/** Builds a snapshot. Pure apart from contextFor (which the store caches). */
export function buildTlsSnapshot(input: TlsSnapshotInput): TlsSnapshot {
  const { config, certificates } = input;
  const selection = (
    host: string,
    certificateName: string,
    profile: TlsProfile,
  ): TlsSelection | undefined => {
    const loaded = certificates.get(certificateName);
    if (!loaded) return undefined;
    const profileKey = tlsProfileKey(profile);
    const context = input.contextFor(loaded, profile, profileKey);
    if (!context) return undefined;
    return Object.freeze({
      host,
      certificate: loaded.served,
      profile,
      profileKey,
      context,
      credentials: { chainPem: loaded.chainPem, key: loaded.key },
    });
  };

  const entries: [string, TlsSelection][] = [];
  let catchAllProfile: TlsProfile | undefined;
  for (const vhost of config?.virtualHosts ?? []) {
    if (!vhost.tls) continue;
    const profile = buildTlsProfile(vhost.tls);
    if (vhost.host === "*") catchAllProfile ??= profile;
    // A null certificate: meant for HTTPS, no valid certificate yet. Such a host is unknown to SNI
    // (default certificate or refusal), never served with some other host's certificate.
    if (vhost.tls.certificate === null) continue;
    const chosen = selection(vhost.host, vhost.tls.certificate, profile);
    if (chosen) entries.push([vhost.host, chosen]);
  }
  const table: HostTable<TlsSelection> = buildHostTable(entries);

  const listener = config?.listener;
  const defaultSelection =
    listener?.defaultCertificate && listener.unknownServerName === "DefaultCertificate"
      ? selection("", listener.defaultCertificate, catchAllProfile ?? DEFAULT_TLS_PROFILE)
      : undefined;
  const fallback = table.lookup(undefined) ?? defaultSelection;

  const profiles = new Map<string, TlsProfile>();
  for (const [, chosen] of entries) profiles.set(chosen.profileKey, chosen.profile);
  if (fallback) profiles.set(fallback.profileKey, fallback.profile);
  if (profiles.size === 0) profiles.set(tlsProfileKey(DEFAULT_TLS_PROFILE), DEFAULT_TLS_PROFILE);
  const primaryProfileKey = fallback?.profileKey ?? (profiles.keys().next().value as string);

  return Object.freeze({
    configVersion: config?.version,
    fallback,
    profiles,
    primaryProfileKey,
    select: (serverName: string | undefined) => table.lookup(serverName) ?? defaultSelection,
  });
}
