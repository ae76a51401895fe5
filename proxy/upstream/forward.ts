// Forwards one downstream request to one endpoint over undici's low-level `dispatch` with our own
// handler: raw header arrays in and out, one writeHead, the body streamed both ways with
// backpressure (PERFORMANCE-NOTES.md: about twice as fast as piping through node:http's client).
// It returns an outcome instead of answering errors itself, so the caller can retry another endpoint.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { ClusterConfig } from "../config/types.ts";
import {
  buildDownstreamResponseHeaders,
  type ParsedHeaders,
  type UpstreamRequestHeaders,
} from "../http/forwarding.ts";
import { BodyLimiter } from "./body-limit.ts";
import { classifyUpstreamError, mayRetry, ProxyError } from "./errors.ts";
import type { PoolRegistry, UpstreamEndpoint } from "./pool.ts";

/** What forward needs to know. */
export interface ForwardOptions {
  /** The downstream request; its body (if any) is streamed upstream. */
  req: IncomingMessage | Http2ServerRequest;
  /** The downstream response; forward writes it only once the upstream response starts. */
  res: ServerResponse | Http2ServerResponse;
  /** Where the endpoint's keep-alive pool lives. */
  pools: PoolRegistry;
  /** The endpoint the balancer picked. */
  endpoint: UpstreamEndpoint;
  /** Its cluster: protocol, upstreamTls, timeouts, maxRequestBodyBytes. */
  cluster: ClusterConfig;
  /** From buildUpstreamRequestHeaders. */
  upstreamHeaders: UpstreamRequestHeaders;
  /** Normalised path plus query, exactly as routed (origin-form). */
  path: string;
  /** PEM of the cluster's CA bundle, required when cluster.protocol is HTTPS. */
  caBundlePem?: string;
  /** Aborts the upstream request (client gone, drain deadline). A closed response aborts too. */
  signal?: AbortSignal;
  /** Strict-Transport-Security value for the host, null or absent for none. */
  hsts?: string | null;
  /**
   * Called once with the upstream status, just before the downstream response head is written; may
   * return flat `[name, value, …]` headers to add (an affinity Set-Cookie).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that only observes the status returns nothing.
  onResponseStart?: (status: number) => readonly string[] | undefined | void;
}

/** How a forward attempt ended. */
export type ForwardOutcome =
  | {
      ok: true;
      /** Upstream status, relayed to the client. */
      status: number;
      requestSent: true;
      responseStarted: true;
      /** Response body bytes relayed. */
      responseBytes: number;
    }
  | {
      ok: false;
      error: ProxyError;
      /**
       * Whether undici began writing the request on a connection, so bytes may have reached the
       * backend. False means the backend cannot have seen the request.
       */
      requestSent: boolean;
      /**
       * Whether the downstream response head was written. If so forward has already destroyed the
       * downstream stream; otherwise the caller answers (writeErrorResponse) or retries.
       */
      responseStarted: boolean;
      /** Whether another attempt may be made (mayRetry: idempotent; nothing sent, or reset before a bodiless request's response). */
      retryable: boolean;
      /** Response body bytes relayed before the failure. */
      responseBytes: number;
    };

/** undici accepts a per-request TLS server name; its published types omit it. */
type DispatchOptions = Dispatcher.DispatchOptions & { servername?: string };

/**
 * Forwards the request to `endpoint` and relays the response. Enforces maxRequestBodyBytes (413
 * before connecting when Content-Length says so, or as soon as a streamed body crosses the limit),
 * responseMs (until the response head, and between two response body chunks), and propagates aborts
 * both ways. Never rejects.
 */
export function forward(options: ForwardOptions): Promise<ForwardOutcome> {
  const { req, cluster, upstreamHeaders } = options;
  const method = req.method ?? "GET";
  const declared = upstreamHeaders.contentLength;
  if (declared === "invalid")
    return failed(new ProxyError("PC_BAD_REQUEST", "invalid Content-Length"));
  if (declared !== null && declared > cluster.maxRequestBodyBytes) {
    return failed(new ProxyError("PC_BODY_TOO_LARGE", `Content-Length ${declared}`));
  }
  if (options.signal?.aborted) return failed(new ProxyError("PC_CLIENT_ABORTED"));
  const upstream = options.pools.get(options.endpoint, cluster, options.caBundlePem);
  // A missing CA bundle is a config problem every endpoint of the cluster shares: not worth a retry.
  if (upstream instanceof ProxyError) return failed(upstream);

  // HTTP/1.1 bodies with a Content-Length are bounded by Node's parser, so the request streams upstream
  // as it is. Bodies of unknown length (chunked, HTTP/2 DATA frames) go through a limiter.
  const http2 = req.httpVersionMajor === 2;
  let body: Readable | null = null;
  let limiter: BodyLimiter | null = null;
  if (http2) {
    if (!(req as Http2ServerRequest).stream.endAfterHeaders) {
      limiter = new BodyLimiter(cluster.maxRequestBodyBytes);
      body = limiter;
    }
  } else if (declared !== null) {
    if (declared > 0) body = req as IncomingMessage;
  } else if (upstreamHeaders.chunked) {
    limiter = new BodyLimiter(cluster.maxRequestBodyBytes);
    body = limiter;
  }

  return new Promise((resolve) => {
    const handler = new ForwardHandler(options, method, limiter, body === null, resolve);
    const dispatchOptions: DispatchOptions = {
      path: options.path,
      method,
      headers: upstreamHeaders.headers,
      body,
      headersTimeout: cluster.timeouts.responseMs,
      bodyTimeout: cluster.timeouts.responseMs,
    };
    if (upstream.servername !== null) dispatchOptions.servername = upstream.servername;
    upstream.dispatcher.dispatch(dispatchOptions, handler);
  });
}

/** An outcome decided before dispatching: nothing was sent, and another endpoint would fare no better. */
function failed(error: ProxyError): Promise<ForwardOutcome> {
  return Promise.resolve({
    ok: false,
    error,
    requestSent: false,
    responseStarted: false,
    retryable: false,
    responseBytes: 0,
  });
}

/** undici's callbacks for one request. A class, not closures: this runs for every request. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #options: ForwardOptions;
  /**
   * `options.res`, typed as the HTTP/1 class: both classes have the methods used here with compatible
   * signatures, but TypeScript cannot call a method through their union.
   */
  readonly #res: ServerResponse;
  readonly #method: string;
  readonly #limiter: BodyLimiter | null;
  /** Whether the request has no body, so that it can be sent again as it was. */
  readonly #bodyless: boolean;
  readonly #resolve: (outcome: ForwardOutcome) => void;
  #controller: Dispatcher.DispatchController | null = null;
  #requestStarted = false;
  #responseStarted = false;
  #done = false;
  #bytes = 0;
  #status = 0;
  /** Set when an abort arrives before undici started the request; applied in onRequestStart. */
  #pendingAbort: ProxyError | null = null;

  readonly #onClientGone = (): void => {
    this.abort(new ProxyError("PC_CLIENT_ABORTED"));
  };

  readonly #onDrain = (): void => {
    this.#controller?.resume();
  };

  constructor(
    options: ForwardOptions,
    method: string,
    limiter: BodyLimiter | null,
    bodyless: boolean,
    resolve: (outcome: ForwardOutcome) => void,
  ) {
    this.#options = options;
    this.#res = options.res as ServerResponse;
    this.#method = method;
    this.#limiter = limiter;
    this.#bodyless = bodyless;
    this.#resolve = resolve;
    // The response closing before we ended it means the client went away (or the listener gave up on
    // it): stop the upstream request instead of reading a response nobody will receive.
    options.res.once("close", this.#onClientGone);
    options.signal?.addEventListener("abort", this.#onClientGone, { once: true });
  }

  /** Aborts the upstream request (or, if not started yet, as soon as it starts). */
  abort(reason: ProxyError): void {
    if (this.#done) return;
    if (this.#controller === null) this.#pendingAbort ??= reason;
    else this.#controller.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    this.#requestStarted = true;
    if (this.#pendingAbort !== null) {
      controller.abort(this.#pendingAbort);
      return;
    }
    // Only now, with a connection ready to take it, does the body start flowing: a request that failed
    // to connect leaves the downstream body unread, for a retry on another endpoint.
    if (this.#limiter !== null) this.#options.req.pipe(this.#limiter);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    upstreamHeaders: ParsedHeaders,
  ): void {
    const extra = this.#options.onResponseStart?.(statusCode) ?? undefined;
    // The parsed object, not controller.rawHeaders: undici already turned every Buffer into a string
    // to build it, and doing that again would double the cost of the response head.
    const headers = buildDownstreamResponseHeaders(upstreamHeaders, {
      hsts: this.#options.hsts ?? null,
      extra,
    });
    try {
      this.#res.writeHead(statusCode, headers);
    } catch (error) {
      // A header value Node refuses to write (or HTTP/2 refuses to carry): the backend's fault.
      controller.abort(
        new ProxyError("PC_UPSTREAM_PROTOCOL", errorMessage(error), { cause: error }),
      );
      return;
    }
    this.#status = statusCode;
    this.#responseStarted = true;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#bytes += chunk.length;
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#res.once("drain", this.#onDrain);
    }
  }

  onResponseEnd(): void {
    if (this.#done) return;
    this.#res.end();
    this.#finish({
      ok: true,
      status: this.#status,
      requestSent: true,
      responseStarted: true,
      responseBytes: this.#bytes,
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    if (this.#done) return;
    const proxyError = this.#pendingAbort ?? classifyUpstreamError(error, this.#requestStarted);
    if (this.#responseStarted) {
      // The status line is gone: the only honest signal left is a broken stream.
      this.#res.destroy();
    }
    if (this.#limiter !== null) this.#options.req.unpipe(this.#limiter);
    this.#finish({
      ok: false,
      error: proxyError,
      requestSent: this.#requestStarted,
      responseStarted: this.#responseStarted,
      retryable: mayRetry(proxyError, this.#method, this.#requestStarted, {
        responseStarted: this.#responseStarted,
        bodyless: this.#bodyless,
      }),
      responseBytes: this.#bytes,
    });
  }

  #finish(outcome: ForwardOutcome): void {
    this.#done = true;
    this.#res.off("close", this.#onClientGone);
    this.#options.signal?.removeEventListener("abort", this.#onClientGone);
    this.#resolve(outcome);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
