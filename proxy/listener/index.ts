// The listener module's public surface: what the proxy's wiring and the request handler use.
export {
  CertificateStore,
  type CertificateStoreOptions,
  type SnapshotListener,
} from "./certificate-store.ts";
export {
  createHttpsListener,
  type HttpsListener,
  type HttpsListenerOptions,
} from "./https-listener.ts";
export {
  DEFAULT_HTTPS_LIMITS,
  type HttpsLimitOverrides,
  type HttpsLimits,
  resolveHttpsLimits,
} from "./limits.ts";
export type { PassthroughTarget, PickPassthroughBackend } from "./passthrough.ts";
export { type ServedCertificate, servedCertificateOf } from "./served-certificate.ts";
export { buildNameCoverage, normalizeServerName } from "./sni.ts";
export type { HttpsRequest, HttpsResponse, RequestHandler } from "./terminator.ts";
export {
  deriveTicketKeys,
  MIN_TICKET_SECRET_BYTES,
  type TicketClock,
  TicketKeyRing,
  type TicketKeyRingOptions,
} from "./tickets.ts";
export type { TlsSelection, TlsSnapshot } from "./tls-snapshot.ts";
