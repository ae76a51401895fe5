// The one catalogue of errors a proxied request can end with. Each has a stable code (for logs,
// metrics and tests; never reworded), the status the client gets, and whether it may be retried on
// another endpoint. Modelled on undici's and fastify's error catalogues.
import type { UpstreamFailure } from "../observability/ports.ts";

/** Stable error codes. */
export type ProxyErrorCode =
  | "PC_UPSTREAM_CONNECT"
  | "PC_UPSTREAM_CONNECT_TIMEOUT"
  | "PC_UPSTREAM_TLS"
  | "PC_UPSTREAM_TIMEOUT"
  | "PC_UPSTREAM_RESET"
  | "PC_UPSTREAM_PROTOCOL"
  | "PC_BODY_TOO_LARGE"
  | "PC_BAD_REQUEST"
  | "PC_UPGRADE_NOT_SUPPORTED"
  | "PC_CLIENT_ABORTED"
  | "PC_NO_ENDPOINT"
  | "PC_NO_CONFIG";

/** What the catalogue says about one code. */
export interface ProxyErrorSpec {
  /** HTTP status the client gets (499, nginx's "client closed request", is only ever logged). */
  status: number;
  /**
   * Whether another endpoint may be tried: true only for failures while connecting, before any byte of
   * the request could have been sent, and even then only for idempotent methods (see mayRetry).
   */
  retryable: boolean;
  /** Label for ProxyMetrics.upstreamFailure, or null when the backend is not at fault. */
  failure: UpstreamFailure | null;
  /** Fixed human-readable summary; details go in `detail`. */
  message: string;
}

/** The catalogue. */
export const PROXY_ERRORS: Readonly<Record<ProxyErrorCode, ProxyErrorSpec>> = {
  PC_UPSTREAM_CONNECT: {
    status: 502,
    retryable: true,
    failure: "connect",
    message: "could not connect to the backend",
  },
  PC_UPSTREAM_CONNECT_TIMEOUT: {
    status: 504,
    retryable: true,
    failure: "connect",
    message: "timed out connecting to the backend",
  },
  PC_UPSTREAM_TLS: {
    status: 502,
    retryable: true,
    failure: "tls",
    message: "TLS handshake with the backend failed",
  },
  PC_UPSTREAM_TIMEOUT: {
    status: 504,
    retryable: false,
    failure: "timeout",
    message: "the backend did not respond in time",
  },
  PC_UPSTREAM_RESET: {
    status: 502,
    retryable: false,
    failure: "reset",
    message: "the backend closed the connection",
  },
  PC_UPSTREAM_PROTOCOL: {
    status: 502,
    retryable: false,
    failure: "protocol",
    message: "the backend sent an invalid response",
  },
  PC_BODY_TOO_LARGE: {
    status: 413,
    retryable: false,
    failure: null,
    message: "request body too large",
  },
  PC_NO_ENDPOINT: {
    status: 503,
    retryable: false,
    failure: null,
    message: "no healthy endpoint is available for this route",
  },
  PC_NO_CONFIG: {
    status: 503,
    retryable: false,
    failure: null,
    message: "the proxy has no configuration yet",
  },
  PC_BAD_REQUEST: {
    status: 400,
    retryable: false,
    failure: null,
    message: "bad request",
  },
  PC_UPGRADE_NOT_SUPPORTED: {
    status: 501,
    retryable: false,
    failure: null,
    message: "protocol upgrades are not supported",
  },
  PC_CLIENT_ABORTED: {
    status: 499,
    retryable: false,
    failure: null,
    message: "the client closed the request",
  },
};

/** An error with a catalogue code. `message` is the catalogue's; `detail` says what exactly happened. */
export class ProxyError extends Error {
  /** Stable code. */
  readonly code: ProxyErrorCode;
  /** Status the client gets. */
  readonly status: number;
  /** Whether another endpoint may be tried (see ProxyErrorSpec.retryable and mayRetry). */
  readonly retryable: boolean;
  /** Metrics label, or null when the backend is not at fault. */
  readonly failure: UpstreamFailure | null;
  /** Specifics for logs (an errno code, a timeout value); never headers, cookies or key material. */
  readonly detail: string | undefined;

  constructor(code: ProxyErrorCode, detail?: string, options?: { cause?: unknown }) {
    const spec = PROXY_ERRORS[code];
    super(detail === undefined ? spec.message : `${spec.message}: ${detail}`, options);
    this.name = "ProxyError";
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.failure = spec.failure;
    this.detail = detail;
  }
}

/** Methods that may be sent twice (RFC 9110 §9.2.2), hence retried on another endpoint. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "PUT",
  "DELETE",
  "TRACE",
]);

/** Whether `method` is idempotent. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}

/**
 * Whether a failed attempt may be retried: the method is idempotent, and either the error happened
 * while connecting and no byte of the request was handed to a connection, or the connection was reset
 * before any byte of the response arrived and the request has no body (so it can be sent again as it
 * was; RFC 9110 §9.2.2). The second case is a keep-alive connection the backend closed just as it was
 * reused, or a backend that died holding the request: nginx retries both by default (`proxy_next_upstream
 * error`). A POST is never retried: the rule stays simple enough to audit.
 */
export function mayRetry(
  error: ProxyError,
  method: string,
  requestSent: boolean,
  exchange: { responseStarted: boolean; bodyless: boolean } = {
    responseStarted: true,
    bodyless: false,
  },
): boolean {
  if (!IDEMPOTENT_METHODS.has(method)) return false;
  if (error.retryable && !requestSent) return true;
  return error.code === "PC_UPSTREAM_RESET" && !exchange.responseStarted && exchange.bodyless;
}

/** OpenSSL certificate verification failures, as Node reports them in `error.code`. */
const X509_CODES: ReadonlySet<string> = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
]);

/**
 * Maps an error from undici, the socket or TLS to the catalogue. `requestStarted` says whether undici
 * had begun writing the request (its handler's onRequestStart ran): the same ECONNRESET means
 * "could not connect" before that and "the backend hung up on us" after.
 */
export function classifyUpstreamError(error: unknown, requestStarted: boolean): ProxyError {
  if (error instanceof ProxyError) return error;
  const code = errorCode(error);
  const options = { cause: error };
  if (code === "UND_ERR_CONNECT_TIMEOUT")
    return new ProxyError("PC_UPSTREAM_CONNECT_TIMEOUT", code, options);
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new ProxyError("PC_UPSTREAM_TIMEOUT", code, options);
  }
  if (code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_") || X509_CODES.has(code)) {
    return new ProxyError("PC_UPSTREAM_TLS", code, options);
  }
  if (
    code.startsWith("HPE_") ||
    code === "UND_ERR_HEADERS_OVERFLOW" ||
    code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH"
  ) {
    return new ProxyError("PC_UPSTREAM_PROTOCOL", code, options);
  }
  if (code === "UND_ERR_INVALID_ARG" || code === "UND_ERR_NOT_SUPPORTED") {
    // undici refused to send what we gave it (a header value or path it deems invalid): the request's
    // fault, since everything we add ourselves is well-formed.
    return new ProxyError("PC_BAD_REQUEST", code, options);
  }
  if (code === "UND_ERR_ABORTED" || code === "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH") {
    // The request body stream ended early or failed: the client went away mid-upload.
    return new ProxyError("PC_CLIENT_ABORTED", code, options);
  }
  if (!requestStarted) {
    // Refused, unreachable, reset during the handshake, pool closed by a config swap: nothing was sent.
    return new ProxyError("PC_UPSTREAM_CONNECT", code || undefined, options);
  }
  return new ProxyError("PC_UPSTREAM_RESET", code || undefined, options);
}

function errorCode(error: unknown): string {
  if (
    typeof error === "object" &&
    error !== null &&
    "code" in error &&
    typeof error.code === "string"
  ) {
    return error.code;
  }
  return "";
}
