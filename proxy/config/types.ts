// ProxyConfig types, derived from proxy-config.schema.yaml via proxy/config/generated/.
import type { components } from "./generated/proxy-config.ts";

type Schemas = components["schemas"];

export const PROXY_CONFIG_SCHEMA_VERSION = "portcullis.dev/proxy-config/v1alpha1";

export type ProxyConfig = Schemas["ProxyConfig"];
export type ConfigSource = Schemas["Source"];
export type ListenerConfig = Schemas["Listener"];
export type CertificateConfig = Schemas["Certificate"];
export type CaBundleConfig = Schemas["CaBundle"];
export type VirtualHostConfig = Schemas["VirtualHost"];
export type HostTlsConfig = Schemas["HostTls"];
export type RouteConfig = Schemas["Route"];
export type PassthroughRouteConfig = Schemas["PassthroughRoute"];
export type ClusterConfig = Schemas["Cluster"];
export type BackendConfig = Schemas["Backend"];
export type EndpointConfig = Schemas["Endpoint"];
export type AffinityConfig = Schemas["Affinity"];
export type UpstreamTlsConfig = Schemas["UpstreamTls"];
export type HealthCheckConfig = Schemas["HealthCheck"];
export type TimeoutsConfig = Schemas["Timeouts"];
