// The one list of condition reasons (PascalCase, stable: users alert on them). Every problem the
// compiler or admission reports carries one of these; docs/reference.md documents each.

export const Reason = {
  /** The object was accepted. */
  Accepted: "Accepted",
  /** Every reference resolved. */
  ResolvedRefs: "ResolvedRefs",
  /** A field value is invalid (admission would have refused it). */
  Invalid: "Invalid",
  /** Another object won a conflict (an older Ingress claimed the host/path, or an older policy the target). */
  Conflicted: "Conflicted",
  /** A policy's targetRef names no existing Ingress or IngressClass. */
  TargetNotFound: "TargetNotFound",
  /** A policy targets something it may not (an IngressClass from outside the controller namespace). */
  NotAllowed: "NotAllowed",
  /** An Ingress targets an IngressClass that is not Portcullis's. */
  NotOurClass: "NotOurClass",
  /** A backend Service (or its port) does not exist. */
  BackendNotFound: "BackendNotFound",
  /** A backend kind Portcullis does not serve (resource backends, ExternalName Services). */
  UnsupportedBackend: "UnsupportedBackend",
  /** A backend has no endpoints (the route still exists and answers 503). */
  NoEndpoints: "NoEndpoints",
  /** A referenced Secret does not exist. */
  SecretNotFound: "SecretNotFound",
  /** A Secret is of the wrong type, lacks a key, or its PEM does not parse. */
  InvalidCertificate: "InvalidCertificate",
  /** The private key does not match the certificate. */
  KeyMismatch: "KeyMismatch",
  /** The certificate has expired (or is not valid yet). */
  CertificateExpired: "CertificateExpired",
  /** The certificate's SANs do not cover a host it is meant to serve. */
  HostNotCovered: "HostNotCovered",
  /** cert-manager has not written the requested certificate yet. */
  CertificatePending: "CertificatePending",
  /** A host meant for HTTPS has no valid certificate: its handshakes fail, plain HTTP is not served. */
  NoCertificate: "NoCertificate",
  /** A wildcard name is to be issued by an ACME issuer without a DNS-01 solver. */
  WildcardNeedsDNS01: "WildcardNeedsDNS01",
  /** The cert-manager issuer does not exist. */
  IssuerNotFound: "IssuerNotFound",
  /** A path is invalid for its pathType, or unsafe. */
  InvalidPath: "InvalidPath",
  /** A host name is invalid. */
  InvalidHost: "InvalidHost",
  /** A part of the object has no effect (such as paths under Passthrough). */
  Ignored: "Ignored",
  /**
   * An ingress-nginx annotation was honoured: it works, but a LoadBalancerPolicy says the same thing
   * in a validated, documented form (the message shows the fragment).
   */
  DeprecatedAnnotation: "DeprecatedAnnotation",
  /** An ingress-nginx annotation, or a value of one, that Portcullis does not implement; it has no effect. */
  UnsupportedAnnotation: "UnsupportedAnnotation",
  /**
   * Re-encryption to the backends is asked for with no CA to verify them (backend-protocol HTTPS and no
   * policy naming a CA): the routes answer 503 rather than reach an unverified or cleartext backend.
   */
  BackendNotVerifiable: "BackendNotVerifiable",
  /** Every ready proxy serves a config built from this generation of the object. */
  Programmed: "Programmed",
  /** The proxies do not serve this generation yet (being delivered, or no proxy is ready). */
  Pending: "Pending",
  /** The object is not accepted, so nothing of it is programmed. */
  NotAccepted: "NotAccepted",
} as const;

export type Reason = (typeof Reason)[keyof typeof Reason];
