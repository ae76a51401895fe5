// Hand-built inputs for the infrastructure builder's unit tests (operator/infra/*.test.ts): configs
// with a correct version, Secrets holding recognisable fake bytes (never real keys), resolved settings.
import type { V1Secret } from "@kubernetes/client-node";
import {
  type InfraInput,
  type InfraOwner,
  type InfraSettings,
  type InfraSettingsInput,
  resolveInfraSettings,
} from "../../operator/infra/index.ts";
import type { CaBundleConfig, CertificateConfig, ProxyConfig } from "../../proxy/config/types.ts";
import { PROXY_CONFIG_SCHEMA_VERSION } from "../../proxy/config/types.ts";
import { computeConfigVersion } from "../../proxy/config/validate.ts";

export const SECRETS_DIR = "/etc/portcullis/secrets";

export const OWNER: InfraOwner = {
  apiVersion: "networking.k8s.io/v1",
  kind: "IngressClass",
  name: "portcullis",
  uid: "00000000-0000-4000-8000-000000000001",
};

export function settings(overrides: Partial<InfraSettingsInput> = {}): InfraSettings {
  return resolveInfraSettings({ image: "registry.example/portcullis:test", ...overrides });
}

/** A certificate entry as the compiler writes it for the Secret "namespace/name". */
export function certificate(key: string, dir = SECRETS_DIR): CertificateConfig {
  return {
    name: key,
    certFile: `${dir}/${key}/tls.crt`,
    keyFile: `${dir}/${key}/tls.key`,
    sha256: "00",
    dnsNames: ["example.com"],
    notAfter: "2125-01-01T00:00:00.000Z",
  };
}

export function caBundle(key: string, dir = SECRETS_DIR): CaBundleConfig {
  return { name: key, file: `${dir}/${key}/ca.crt`, sha256: "00" };
}

/** A valid config (version = content hash) with these certificates, CA bundles and a route marker. */
export function config(
  parts: { certificates?: CertificateConfig[]; caBundles?: CaBundleConfig[]; marker?: string } = {},
): ProxyConfig {
  const body: Omit<ProxyConfig, "version"> = {
    schemaVersion: PROXY_CONFIG_SCHEMA_VERSION,
    sources: [],
    listener: {
      defaultCertificate: null,
      unknownServerName: "Reject",
      sessionTicketRotationSeconds: 43200,
    },
    certificates: parts.certificates ?? [],
    caBundles: parts.caBundles ?? [],
    virtualHosts: parts.marker
      ? [{ host: `${parts.marker}.example.com`, tls: null, routes: [], defaultCluster: null }]
      : [],
    passthrough: [],
    clusters: [],
  };
  return { ...body, version: computeConfigVersion(body) } as ProxyConfig;
}

/** Fake bytes that are easy to find in any output: "FAKE-<key>-<file>-<generation>". */
export function fakeValue(key: string, file: string, generation = 1): string {
  return Buffer.from(`FAKE-${key}-${file}-${generation}`).toString("base64");
}

/** A Secret "namespace/name" with the given keys, each holding fakeValue(). */
export function secret(
  key: string,
  files: string[] = ["tls.crt", "tls.key"],
  generation = 1,
): V1Secret {
  const [namespace = "", name = ""] = key.split("/");
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { namespace, name },
    type: files.includes("tls.key") ? "kubernetes.io/tls" : "Opaque",
    data: Object.fromEntries(files.map((file) => [file, fakeValue(key, file, generation)])),
  };
}

export function input(parts: Partial<InfraInput> = {}): InfraInput {
  return {
    config: parts.config ?? config(),
    secrets: parts.secrets ?? [],
    settings: parts.settings ?? settings(),
    owner: parts.owner ?? OWNER,
  };
}
