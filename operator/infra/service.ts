// How traffic and the operator reach the proxies: the proxy Service (type from the settings; by
// default a LoadBalancer keeping client IPs with externalTrafficPolicy Local), the headless admin
// Service whose EndpointSlices list every proxy pod for the operator to read /config from, and the
// PodDisruptionBudget that lets voluntary evictions take one proxy at a time.
import type { V1PodDisruptionBudget, V1Service, V1ServiceSpec } from "@kubernetes/client-node";
import { objectMeta, proxySelector } from "./metadata.ts";
import { CONTAINER_PORTS, infraNames, SERVICE_PORTS } from "./names.ts";
import type { InfraOwner, InfraSettings } from "./types.ts";

/** `<prefix>-proxy`: 443 → https, 80 → http. */
export function buildProxyService(settings: InfraSettings, owner: InfraOwner): V1Service {
  const { service } = settings;
  const spec: V1ServiceSpec = {
    type: service.type,
    selector: proxySelector(settings),
    // Service ports' list key is (port, protocol): protocol is set for server-side apply.
    ports: (["https", "http"] as const).map((name) => ({
      name,
      port: SERVICE_PORTS[name],
      targetPort: name,
      protocol: "TCP",
    })),
  };
  // The API server refuses both fields on a ClusterIP Service, and loadBalancerClass on a NodePort.
  if (service.type !== "ClusterIP") spec.externalTrafficPolicy = service.externalTrafficPolicy;
  if (service.type === "LoadBalancer" && service.loadBalancerClass !== null)
    spec.loadBalancerClass = service.loadBalancerClass;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: objectMeta(settings, owner, infraNames(settings.namePrefix).proxy, "proxy", {
      annotations: service.annotations,
    }),
    spec,
  };
}

/** `<prefix>-proxy-admin`: headless, port 9901, for the operator's reads of each proxy's /config. */
export function buildAdminService(settings: InfraSettings, owner: InfraOwner): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: objectMeta(settings, owner, infraNames(settings.namePrefix).adminService, "proxy"),
    spec: {
      clusterIP: "None",
      selector: proxySelector(settings),
      ports: [{ name: "admin", port: CONTAINER_PORTS.admin, targetPort: "admin", protocol: "TCP" }],
    },
  };
}

/**
 * `<prefix>-proxy`: at most one proxy evicted at a time. Unhealthy pods may always be evicted, so a
 * broken proxy never blocks a node drain.
 */
export function buildProxyDisruptionBudget(
  settings: InfraSettings,
  owner: InfraOwner,
): V1PodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: objectMeta(settings, owner, infraNames(settings.namePrefix).proxy, "proxy"),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: proxySelector(settings) },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}
