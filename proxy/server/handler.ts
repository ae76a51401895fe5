// The request path: one function per request that ties the modules together. Validate Host and the
// target, route by host and path, redirect plain HTTP to HTTPS where the host asks for it, refuse
// HTTP/2 connection reuse for hosts the served certificate does not cover (421), pick an endpoint
// (affinity first), hold a request body until it has arrived (body-gate.ts), forward, retry idempotent
// requests that failed to connect or, without a body, were reset before their response (mayRetry),
// and record the outcome.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cookieHeadersOf } from "../cluster/affinity-cookie.ts";
import type { RequestOutcome } from "../cluster/cluster.ts";
import type { ClusterRegistry } from "../cluster/registry.ts";
import type { ClusterConfig, ProxyConfig } from "../config/types.ts";
import { buildUpstreamRequestHeaders } from "../http/forwarding.ts";
import { leavesBodyUnread, validateFraming } from "../http/framing.ts";
import { validateHost } from "../http/host.ts";
import type { TrustedProxies } from "../http/trusted-proxies.ts";
import { classifyUpgrade } from "../http/upgrade.ts";
import { servedCertificateOf } from "../listener/served-certificate.ts";
import type { AccessLogger } from "../observability/access-log.ts";
import type { ProxyMetrics } from "../observability/ports.ts";
import { normalizeRequestTarget } from "../router/request-target.ts";
import type { Router } from "../router/router.ts";
import { writeErrorResponse } from "../upstream/error-response.ts";
import { ProxyError, type ProxyErrorCode } from "../upstream/errors.ts";
import { type ForwardOutcome, forward } from "../upstream/forward.ts";
import type { PoolRegistry } from "../upstream/pool.ts";
import { awaitRequestBody, type BodyGateOutcome, coalesceBodyChunks } from "./body-gate.ts";

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;

/** What one config compiles to at run time; swapped as a whole, so a request sees one consistent view. */
export interface RuntimeState {
  config: ProxyConfig;
  router: Router;
  clusters: ClusterRegistry;
  /** PEM of each CA bundle, by name (read once per config). */
  caBundles: ReadonlyMap<string, string>;
}

export interface HandlerOptions {
  /** The state in force; read once at the start of each request. */
  state(): RuntimeState | undefined;
  scheme: "https" | "http";
  /** Port in redirects to HTTPS (443 is left out of the URL). */
  httpsRedirectPort: number;
  pools: PoolRegistry;
  trustedProxies: TrustedProxies;
  metrics: ProxyMetrics;
  accessLog: AccessLogger;
  /** Whether the process is draining: HTTP/1 responses then carry Connection: close. */
  draining(): boolean;
}

/** The header a draining HTTP/1 response adds. */
const CONNECTION_CLOSE: readonly string[] = ["connection", "close"];

/** Outcome for passive health: what a forward result says about the endpoint. */
const OUTCOME_BY_CODE: Partial<Record<ProxyErrorCode, RequestOutcome>> = {
  PC_UPSTREAM_CONNECT: "connectFailure",
  PC_UPSTREAM_CONNECT_TIMEOUT: "connectFailure",
  PC_UPSTREAM_TLS: "connectFailure",
  PC_UPSTREAM_TIMEOUT: "timeout",
  PC_UPSTREAM_RESET: "serverError",
  PC_UPSTREAM_PROTOCOL: "serverError",
};

function outcomeOf(result: ForwardOutcome): RequestOutcome {
  if (result.ok) return result.status >= 500 ? "serverError" : "success";
  return OUTCOME_BY_CODE[result.error.code] ?? "aborted";
}

/** The socket whose TLS session served this request (the session's socket for HTTP/2). */
function tlsSocketOf(req: DownstreamRequest): object | undefined {
  if (req.httpVersionMajor === 2) return (req as Http2ServerRequest).stream.session?.socket;
  return req.socket;
}

export function createRequestHandler(options: HandlerOptions) {
  const { metrics, accessLog } = options;

  return function handleRequest(req: DownstreamRequest, res: DownstreamResponse): void {
    const started = performance.now();
    const state = options.state();
    let routeLabel = "none";
    let clusterLabel = "none";
    let endpointLabel = "";
    let hostLabel = "";
    let pathLabel = req.url ?? "";

    const finish = (status: number, bytes: number): void => {
      const seconds = (performance.now() - started) / 1000;
      metrics.request(routeLabel, clusterLabel, status, seconds);
      accessLog.log({
        method: req.method ?? "",
        host: hostLabel,
        path: pathLabel,
        status,
        durationMs: Math.round(seconds * 1e6) / 1000,
        route: routeLabel,
        cluster: clusterLabel,
        endpoint: endpointLabel,
        bytesSent: bytes,
        protocol: `HTTP/${req.httpVersion}`,
        clientAddress: req.socket?.remoteAddress ?? "",
      });
    };
    const fail = (error: ProxyError, hsts: string | null = null, requestId?: string): void => {
      // A malformed request says nothing good about what follows it on the connection: close it.
      if (req.httpVersionMajor === 1 && (options.draining() || error.status === 400)) {
        res.setHeader("connection", "close");
      }
      writeErrorResponse(req, res, error, {
        hsts,
        ...(requestId === undefined ? {} : { requestId }),
      });
      finish(error.status, 0);
    };
    const reply = (status: number, headers: Record<string, string>, body = ""): void => {
      // An answer given before the request body was read (404, 421, 308) closes the connection:
      // otherwise Node would read and discard whatever body the client still sends.
      if (req.httpVersionMajor === 1 && (options.draining() || leavesBodyUnread(req))) {
        headers.connection = "close";
      }
      // Both response types take (status, headers); their overload sets just do not unify in TypeScript.
      (res as ServerResponse).writeHead(status, {
        "content-length": String(Buffer.byteLength(body)),
        ...headers,
      });
      res.end(body);
      finish(status, Buffer.byteLength(body));
    };

    if (!state) {
      fail(new ProxyError("PC_NO_CONFIG"));
      return;
    }
    const framing = validateFraming(req);
    if (framing) {
      fail(new ProxyError("PC_BAD_REQUEST", framing.error));
      return;
    }
    const host = validateHost({
      rawHeaders: req.rawHeaders,
      target: req.url ?? "",
      httpVersionMajor: req.httpVersionMajor,
    });
    if (!host.ok) {
      fail(new ProxyError("PC_BAD_REQUEST", host.reason));
      return;
    }
    hostLabel = host.host;
    const target = normalizeRequestTarget(absoluteToOrigin(req.url ?? ""));
    if ("error" in target) {
      fail(new ProxyError("PC_BAD_REQUEST", target.error));
      return;
    }
    pathLabel = target.path;
    const match = state.router.match(host.host, target.path);
    if (!match) {
      reply(404, { "content-type": "text/plain; charset=utf-8" }, "No route for this host.\n");
      return;
    }
    const { vhost, route } = match;
    // The documented `route` label (docs/metrics.md): the route's source, unique per route, where host
    // and path are not (an Exact and a Prefix route may share both).
    routeLabel = route ? route.source : `${vhost.host} default`;
    const tls = vhost.tls;

    if (options.scheme === "http" && tls?.httpRedirect) {
      const port = options.httpsRedirectPort === 443 ? "" : `:${options.httpsRedirectPort}`;
      reply(308, { location: `https://${host.host}${port}${target.path}${target.query}` });
      return;
    }
    const hsts = options.scheme === "https" ? (tls?.hsts ?? null) : null;
    if (options.scheme === "https") {
      // A browser may reuse a connection for another host its certificate covers (HTTP/2 coalescing);
      // route such a request by :authority, but only if the certificate served really covers it.
      const served = servedCertificateOf(tlsSocketOf(req));
      if (served && !served.covers(host.host)) {
        reply(421, { "content-type": "text/plain; charset=utf-8" }, "Misdirected request.\n");
        return;
      }
    }
    if (match.clusterName === null) {
      reply(
        404,
        {
          "content-type": "text/plain; charset=utf-8",
          ...(hsts ? { "strict-transport-security": hsts } : {}),
        },
        "Not found.\n",
      );
      return;
    }
    clusterLabel = match.clusterName;
    if (classifyUpgrade(req.rawHeaders) === "other") {
      fail(new ProxyError("PC_UPGRADE_NOT_SUPPORTED"), hsts);
      return;
    }
    const cluster = state.clusters.get(match.clusterName);
    if (!cluster) {
      fail(new ProxyError("PC_NO_ENDPOINT", "unknown cluster"), hsts);
      return;
    }
    const upstreamHeaders = buildUpstreamRequestHeaders(req.rawHeaders, {
      peerAddress: req.socket?.remoteAddress,
      proto: options.scheme,
      host: host.host,
      hostPort: host.port,
      listenerPort: req.socket?.localPort ?? 0,
      trustedProxies: options.trustedProxies,
    });
    const path = `${target.path}${target.query}`;
    // The affinity cookie's Path when the policy sets none: the matched route's (the default backend: "/").
    const routePath = route ? route.path : "/";
    // Gone: Node already answered a body that failed to parse with 400 (or the client left); the
    // backend was sent nothing.
    const proceed = (outcome: BodyGateOutcome): void => {
      if (outcome === "ready") void forwardWithRetries(cluster.config, path);
      else fail(new ProxyError("PC_CLIENT_ABORTED"), hsts, upstreamHeaders.requestId);
    };
    if (req.httpVersionMajor === 1 && upstreamHeaders.chunked) {
      coalesceBodyChunks(req as IncomingMessage);
    }
    const gate = awaitRequestBody(req);
    if (typeof gate === "string") proceed(gate);
    else void gate.then(proceed);

    async function forwardWithRetries(config: ClusterConfig, upstreamPath: string): Promise<void> {
      const tried = new Set<string>();
      const caBundlePem = config.upstreamTls
        ? state?.caBundles.get(config.upstreamTls.caBundle)
        : undefined;
      const pickRequest = { cookieHeader: cookieHeadersOf(req.rawHeaders), routePath };
      let lastError: ProxyError | undefined;
      for (let attempt = 0; ; attempt++) {
        let pick = cluster?.pick(pickRequest, tried);
        // After a reset, the endpoint tried may still be the only one: a keep-alive connection it closed
        // as it was reused says nothing about a new connection, so it gets one more.
        if (!pick && lastError?.code === "PC_UPSTREAM_RESET") pick = cluster?.pick(pickRequest);
        if (!cluster || !pick) {
          fail(new ProxyError("PC_NO_ENDPOINT"), hsts, upstreamHeaders.requestId);
          return;
        }
        endpointLabel = pick.endpoint.id;
        cluster.requestStarted(pick.endpoint);
        const result = await forward({
          req,
          res,
          pools: options.pools,
          endpoint: pick.endpoint,
          cluster: config,
          upstreamHeaders,
          path: upstreamPath,
          ...(caBundlePem === undefined ? {} : { caBundlePem }),
          hsts,
          onResponseStart: () => {
            const close = options.draining() && req.httpVersionMajor === 1;
            if (pick.setCookie === undefined) return close ? CONNECTION_CLOSE : undefined;
            const extra = ["set-cookie", pick.setCookie];
            if (close) extra.push(...CONNECTION_CLOSE);
            return extra;
          },
        });
        cluster.requestFinished(pick.endpoint, outcomeOf(result));
        if (result.ok) {
          finish(result.status, result.responseBytes);
          return;
        }
        if (result.error.failure) metrics.upstreamFailure(clusterLabel, result.error.failure);
        if (result.retryable && attempt < config.retryAttempts) {
          tried.add(pick.endpoint.id);
          lastError = result.error;
          metrics.retry(clusterLabel);
          continue;
        }
        if (result.responseStarted) {
          finish(res.statusCode, result.responseBytes);
          return;
        }
        fail(result.error, hsts, upstreamHeaders.requestId);
        return;
      }
    }
  };
}

/** An absolute-form target ("http://host/path") as origin-form; Host agreement was checked already. */
function absoluteToOrigin(target: string): string {
  if (target.startsWith("/") || target === "*") return target;
  const scheme = target.indexOf("://");
  if (scheme === -1) return target;
  const slash = target.indexOf("/", scheme + 3);
  return slash === -1 ? "/" : target.slice(slash);
}
