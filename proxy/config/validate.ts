// Validation of a ProxyConfig against its schema, used on both sides of the contract: the compiler
// checks what it emits, and the proxy checks what it receives before swapping it in.
//
// The schema check is Ajv's standalone code, generated from the schema by `npm run generate`
// (generated/proxy-config-validator.ts): the proxy's processes never load Ajv or compile the schema.
import type { ErrorObject, ValidateFunction } from "ajv";
import { contentHash } from "./canonical.ts";
import { validate as generatedValidator } from "./generated/proxy-config-validator.ts";
import { PROXY_CONFIG_SCHEMA_VERSION, type ProxyConfig } from "./types.ts";

/** The generated module is untyped JavaScript; it is what `ajv.compile(schema)` would return. */
const schemaValidator = generatedValidator as unknown as ValidateFunction;

function describe(error: ErrorObject): string {
  const where = error.instancePath === "" ? "(root)" : error.instancePath;
  // Ajv's message for an unknown field does not say which one: name it.
  const extra = (error.params as { additionalProperty?: unknown }).additionalProperty;
  const detail = typeof extra === "string" ? `: ${JSON.stringify(extra)}` : "";
  return `${where}: ${error.message ?? "is invalid"}${detail}`;
}

/** The version a config must carry: the hash of everything but the version itself. */
export function computeConfigVersion(config: Omit<ProxyConfig, "version"> | ProxyConfig): string {
  const { version: _ignored, ...rest } = config as ProxyConfig;
  return contentHash(rest);
}

/**
 * Problems with a candidate config (empty when valid): schema violations, a foreign schemaVersion,
 * a version that is not its content hash, and references to clusters or certificates that do not exist.
 */
export function validateProxyConfig(
  candidate: unknown,
  options: {
    /**
     * The caller has just computed the version from this very object (the compiler does), so hashing
     * the whole config again proves nothing. Default false: a config that arrives from elsewhere is
     * always checked.
     */
    versionJustComputed?: boolean;
  } = {},
): string[] {
  if (
    typeof candidate === "object" &&
    candidate !== null &&
    (candidate as { schemaVersion?: unknown }).schemaVersion !== PROXY_CONFIG_SCHEMA_VERSION
  ) {
    return [`schemaVersion: expected ${PROXY_CONFIG_SCHEMA_VERSION}`];
  }
  if (!schemaValidator(candidate)) return (schemaValidator.errors ?? []).map(describe);
  const config = candidate as ProxyConfig;
  const problems: string[] = [];
  if (!options.versionJustComputed && computeConfigVersion(config) !== config.version) {
    problems.push("version: is not the content hash of the config");
  }
  const clusters = new Set(config.clusters.map((c) => c.name));
  const certificates = new Set(config.certificates.map((c) => c.name));
  const caBundles = new Set(config.caBundles.map((c) => c.name));
  const needCluster = (name: string | null, where: string): void => {
    if (name !== null && !clusters.has(name)) problems.push(`${where}: unknown cluster "${name}"`);
  };
  config.virtualHosts.forEach((vhost, i) => {
    vhost.routes.forEach((route, j) => {
      needCluster(route.cluster, `/virtualHosts/${i}/routes/${j}/cluster`);
    });
    needCluster(vhost.defaultCluster, `/virtualHosts/${i}/defaultCluster`);
    if (vhost.tls?.certificate && !certificates.has(vhost.tls.certificate)) {
      problems.push(
        `/virtualHosts/${i}/tls/certificate: unknown certificate "${vhost.tls.certificate}"`,
      );
    }
  });
  config.passthrough.forEach((route, i) => {
    needCluster(route.cluster, `/passthrough/${i}/cluster`);
  });
  config.clusters.forEach((cluster, i) => {
    if (cluster.upstreamTls && !caBundles.has(cluster.upstreamTls.caBundle)) {
      problems.push(
        `/clusters/${i}/upstreamTls/caBundle: unknown CA bundle "${cluster.upstreamTls.caBundle}"`,
      );
    }
  });
  const defaultCertificate = config.listener.defaultCertificate;
  if (defaultCertificate !== null && !certificates.has(defaultCertificate)) {
    problems.push(`/listener/defaultCertificate: unknown certificate "${defaultCertificate}"`);
  }
  return problems;
}
