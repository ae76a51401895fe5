// Test fixtures for proxy/http and proxy/upstream: a backend that records exactly what reached it, a
// minimal proxy wired the way the listener will wire these modules, and a raw-socket client for
// requests node:http would refuse to send. Loopback only.
import { once } from "node:events";
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, connect } from "node:net";
import type { ClusterConfig } from "../config/types.ts";
import { buildUpstreamRequestHeaders } from "../http/forwarding.ts";
import { validateHost } from "../http/host.ts";
import type { TrustedProxies } from "../http/trusted-proxies.ts";
import { classifyUpgrade } from "../http/upgrade.ts";
import { writeErrorResponse } from "./error-response.ts";
import { ProxyError } from "./errors.ts";
import { type ForwardOutcome, forward } from "./forward.ts";
import type { PoolRegistry, UpstreamEndpoint } from "./pool.ts";

/** What one request looked like on the backend's side. */
export interface RecordedRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Body bytes received so far (the whole body once `complete`). */
  body: Buffer[];
  /** Whether the body was received to its end. */
  complete: boolean;
  /** TLS server name the client sent (HTTPS backends only). */
  servername: string | undefined;
}

/** A running backend. */
export interface RecordingBackend {
  port: number;
  /** Requests in arrival order, recorded as soon as their head arrives. */
  requests: RecordedRequest[];
  /** TCP connections accepted so far. */
  connections: () => number;
  /** Total request body bytes received. */
  bodyBytes: () => number;
  close: () => Promise<void>;
}

/** Options of startBackend. */
export interface BackendOptions {
  /** Answers a request once its body was read; default 200 "ok". */
  respond?: (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;
  /** Answer as soon as the head arrives, without waiting for the body. */
  respondEarly?: boolean;
  /** Serve HTTPS with this key and certificate chain. */
  tls?: { keyPem: string; certPem: string };
}

/** Starts a backend on 127.0.0.1 that records every request it receives. */
export async function startBackend(options: BackendOptions = {}): Promise<RecordingBackend> {
  const requests: RecordedRequest[] = [];
  let connections = 0;
  const respond =
    options.respond ??
    ((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  const listener: RequestListener = (req, res) => {
    const socket = req.socket as { servername?: string | false };
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      rawHeaders: [...req.rawHeaders],
      body: [],
      complete: false,
      servername: typeof socket.servername === "string" ? socket.servername : undefined,
    };
    requests.push(recorded);
    req.on("data", (chunk: Buffer) => recorded.body.push(chunk));
    if (options.respondEarly) respond(req, res, recorded);
    req.on("end", () => {
      recorded.complete = true;
      if (!options.respondEarly) respond(req, res, recorded);
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.keyPem, cert: options.tls.certPem }, listener)
    : createServer(listener);
  server.on(options.tls ? "secureConnection" : "connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    connections: () => connections,
    bodyBytes: () => requests.reduce((sum, r) => sum + r.body.reduce((s, b) => s + b.length, 0), 0),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A cluster config for tests: plain HTTP, short timeouts, 1 MiB + 1 KiB body limit. */
export function testCluster(overrides: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name: "team/app",
    protocol: "HTTP",
    backends: [],
    balancer: "RoundRobin",
    affinity: null,
    upstreamTls: null,
    healthCheck: { active: null, passive: null },
    timeouts: { connectMs: 1000, responseMs: 2000, upstreamIdleMs: 10_000 },
    maxRequestBodyBytes: 1024 * 1024 + 1024,
    retryAttempts: 2,
    ...overrides,
  };
}

/** Options of startProxy. */
export interface TestProxyOptions {
  pools: PoolRegistry;
  cluster: ClusterConfig;
  /** Tried in order: attempt n goes to endpoints[n % length]. */
  endpoints: UpstreamEndpoint[];
  trustedProxies?: TrustedProxies;
  caBundlePem?: string;
  hsts?: string | null;
  /** Passed to forward: sees the upstream status, may add response headers. */
  onResponseStart?: (status: number) => readonly string[] | undefined;
  /** Serve cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1: the compat API a TLS h2 listener uses. */
  http2?: boolean;
}

/** A running test proxy. */
export interface TestProxy {
  port: number;
  /** Every forward outcome, in order. */
  outcomes: ForwardOutcome[];
  close: () => Promise<void>;
}

/**
 * A plain-HTTP proxy wired as the listener will wire these modules: validate Host, refuse upgrades,
 * build headers, forward with retries, answer errors.
 */
export async function startProxy(options: TestProxyOptions): Promise<TestProxy> {
  const outcomes: ForwardOutcome[] = [];
  const handle = async (
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
  ): Promise<void> => {
    const host = validateHost({
      rawHeaders: req.rawHeaders,
      target: req.url ?? "",
      httpVersionMajor: req.httpVersionMajor,
    });
    if (!host.ok) {
      writeErrorResponse(req, res, new ProxyError("PC_BAD_REQUEST", host.reason));
      return;
    }
    if (classifyUpgrade(req.rawHeaders) === "other") {
      writeErrorResponse(req, res, new ProxyError("PC_UPGRADE_NOT_SUPPORTED"));
      return;
    }
    const upstreamHeaders = buildUpstreamRequestHeaders(req.rawHeaders, {
      peerAddress: req.socket.remoteAddress,
      proto: "http",
      host: host.host,
      hostPort: host.port,
      listenerPort: req.socket.localPort ?? 0,
      ...(options.trustedProxies === undefined ? {} : { trustedProxies: options.trustedProxies }),
    });
    for (let attempt = 0; ; attempt++) {
      const endpoint = options.endpoints[attempt % options.endpoints.length];
      if (endpoint === undefined) throw new Error("no endpoints");
      const outcome = await forward({
        req,
        res,
        pools: options.pools,
        endpoint,
        cluster: options.cluster,
        upstreamHeaders,
        path: req.url ?? "/",
        ...(options.caBundlePem === undefined ? {} : { caBundlePem: options.caBundlePem }),
        hsts: options.hsts ?? null,
        ...(options.onResponseStart === undefined
          ? {}
          : { onResponseStart: options.onResponseStart }),
      });
      outcomes.push(outcome);
      if (outcome.ok) return;
      if (outcome.retryable && attempt < options.cluster.retryAttempts) continue;
      writeErrorResponse(req, res, outcome.error, { requestId: upstreamHeaders.requestId });
      return;
    }
  };
  const server = options.http2 ? createHttp2Server(handle) : createServer(handle);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    outcomes,
    close: () => {
      if ("closeAllConnections" in server) server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw HTTP exchange: writes `request` bytes, resolves with everything read until the server closes. */
export async function rawExchange(
  port: number,
  request: string | Buffer,
  timeoutMs = 5000,
): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.write(request);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await new Promise<void>((resolve) => socket.on("close", () => resolve()));
  clearTimeout(timer);
  return Buffer.concat(chunks).toString("latin1");
}

/** Lower-case header names of a raw header list. */
export function headerNames(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

/** All values of header `name` (case-insensitive) in a raw header list. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name) values.push(rawHeaders[i + 1] ?? "");
  }
  return values;
}
