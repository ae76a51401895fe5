// cert-manager types, generated with openapi-typescript from cert-manager's published CRDs
// (schemas/cert-manager-v1.21.1/).
import type { components } from "../generated/cert-manager.ts";
import type { WithMetadata } from "./kubernetes.ts";

export { certManagerVersion } from "../generated/cert-manager.ts";
export const CERT_MANAGER_API_VERSION = "cert-manager.io/v1";

export type CertManagerCertificate = WithMetadata<components["schemas"]["Certificate"]>;
export type CertManagerIssuer = WithMetadata<components["schemas"]["Issuer"]>;
export type CertManagerClusterIssuer = WithMetadata<components["schemas"]["ClusterIssuer"]>;
export type CertManagerIssuerSpec = components["schemas"]["Issuer"]["spec"];
