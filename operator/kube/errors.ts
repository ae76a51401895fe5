// Typed errors of operator/kube, each with a stable `code` that callers and tests match on (messages
// may change; codes do not).

/** Stable codes of the errors below. */
export type KubeErrorCode = "ERR_KUBE_API" | "ERR_KUBE_PROTOCOL" | "ERR_INFORMER_STOPPED";

/**
 * The API server answered with an error: a non-2xx response, or an ERROR event in a watch stream.
 * `message` is the server's own (from its Status object) when it sent one.
 */
export class KubeApiError extends Error {
  readonly code = "ERR_KUBE_API";
  /** HTTP status, or the Status object's `code` for a watch ERROR event (410 = resource version expired). */
  readonly statusCode: number;
  /** The Status object's `reason` ("Expired", "Forbidden", "NotFound", …); "" when it had none. */
  readonly reason: string;

  /**
   * Whole seconds the server asked us to wait before retrying: its Retry-After header on a 429 or 503,
   * else the Status's `details.retryAfterSeconds`; undefined when it said neither.
   */
  readonly retryAfterSeconds: number | undefined;

  constructor(statusCode: number, reason: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /**
   * An error from a Status object (`{kind: "Status", code, reason, message}`), or from the bare HTTP
   * status. `retryAfter` is the response's Retry-After header, if any (read on 429 and 503 only).
   */
  static fromStatus(
    statusCode: number,
    status: unknown,
    retryAfter?: string | readonly string[] | undefined,
  ): KubeApiError {
    const record = isRecord(status) ? status : {};
    const code = typeof record.code === "number" ? record.code : statusCode;
    const reason = typeof record.reason === "string" ? record.reason : "";
    const message =
      typeof record.message === "string" && record.message !== ""
        ? record.message
        : `API server answered ${code}${reason === "" ? "" : ` ${reason}`}`;
    const details = isRecord(record.details) ? record.details : {};
    const fromHeader =
      statusCode === 429 || statusCode === 503 ? parseRetryAfter(retryAfter) : undefined;
    const fromDetails =
      typeof details.retryAfterSeconds === "number" &&
      Number.isInteger(details.retryAfterSeconds) &&
      details.retryAfterSeconds >= 0
        ? details.retryAfterSeconds
        : undefined;
    return new KubeApiError(code, reason, message, fromHeader ?? fromDetails);
  }
}

/**
 * A Retry-After header as whole seconds: delay-seconds ("3"), or an HTTP date (rounded up from now,
 * 0 if past); undefined when absent or unreadable (then the caller's own backoff applies).
 */
function parseRetryAfter(header: string | readonly string[] | undefined): number | undefined {
  const value = (typeof header === "string" ? header : header?.[0])?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value)) {
    const seconds = Number(value);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The API server's answer could not be understood (not JSON, not a list, a malformed watch line). */
export class KubeProtocolError extends Error {
  readonly code = "ERR_KUBE_PROTOCOL";

  constructor(message: string) {
    super(message);
    this.name = "KubeProtocolError";
  }
}

/** The informer was stopped before it finished its initial sync. */
export class InformerStoppedError extends Error {
  readonly code = "ERR_INFORMER_STOPPED";

  constructor(informer: string) {
    super(`informer ${informer} was stopped before it synced`);
    this.name = "InformerStoppedError";
  }
}

/** A message safe to log: the error's message, or its string form. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
