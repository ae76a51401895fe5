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

  constructor(statusCode: number, reason: string, message: string) {
    super(message);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = reason;
  }

  /** An error from a Status object (`{kind: "Status", code, reason, message}`), or from the bare HTTP status. */
  static fromStatus(statusCode: number, status: unknown): KubeApiError {
    const record = isRecord(status) ? status : {};
    const code = typeof record.code === "number" ? record.code : statusCode;
    const reason = typeof record.reason === "string" ? record.reason : "";
    const message =
      typeof record.message === "string" && record.message !== ""
        ? record.message
        : `API server answered ${code}${reason === "" ? "" : ` ${reason}`}`;
    return new KubeApiError(code, reason, message);
  }
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
