// One proxy worker process: applies configs from the config file, terminates TLS on the shared HTTPS
// port, serves plain HTTP (redirects, and hosts without TLS), and forwards. Started by the supervisor
// over IPC; knows nothing of Kubernetes.
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ClusterRegistry } from "./cluster/registry.ts";
import { type ConfigWatch, loadConfigFile, watchConfigFile } from "./config/source.ts";
import type { ProxyConfig } from "./config/types.ts";
import { createServer } from "./http/node-http.ts";
import { compileTrustedProxies } from "./http/trusted-proxies.ts";
import { loadSharedKeys, type SharedKeysWatch, watchSharedKeys } from "./keys.ts";
import { CertificateStore } from "./listener/certificate-store.ts";
import { createHttpsListener, type HttpsListener } from "./listener/https-listener.ts";
import { DEFAULT_HTTPS_LIMITS } from "./listener/limits.ts";
import { TicketKeyRing } from "./listener/tickets.ts";
import { createAccessLogger, createLogger, type Logger } from "./observability/logger.ts";
import { createPrometheusMetrics } from "./observability/metrics.ts";
import { serveWorkerMetrics } from "./observability/worker-metrics.ts";
import { Router } from "./router/router.ts";
import { createRequestHandler, type RuntimeState } from "./server/handler.ts";
import { endpointKey, PoolRegistry } from "./upstream/pool.ts";
import { probeEndpoint } from "./upstream/probe.ts";
import type { WorkerMessage, WorkerOptions } from "./worker-protocol.ts";

/** Ticket rotation until the first config says otherwise (the schema's default). */
const INITIAL_ROTATION_SECONDS = 12 * 3600;

class Worker {
  readonly #options: WorkerOptions;
  readonly #logger: Logger;
  readonly #metrics = createPrometheusMetrics();
  readonly #accessLog = createAccessLogger();
  readonly #pools = new PoolRegistry();
  #state: RuntimeState | undefined;
  #clusters!: ClusterRegistry;
  #https!: HttpsListener;
  #http!: Server;
  #watch: ConfigWatch | undefined;
  #keysWatch: SharedKeysWatch | undefined;
  #listening = false;
  #draining = false;

  constructor(options: WorkerOptions, index: number) {
    this.#options = options;
    this.#logger = createLogger({ level: options.logLevel, component: `worker-${index}` });
  }

  async start(): Promise<void> {
    serveWorkerMetrics(this.#metrics.registry);
    const keys = await loadSharedKeys(this.#options.keysDir);
    if (!keys) throw new Error(`No shared keys in ${this.#options.keysDir}`);
    this.#clusters = new ClusterRegistry({
      now: Date.now,
      affinityKeys: keys.affinityKeys.map((k) => k.reveal()),
      metrics: this.#metrics,
      probe: (endpoint, check, signal) => {
        const cluster = this.#clusters.get(check.cluster)?.config;
        if (!cluster) return Promise.resolve(false);
        const caBundle = cluster.upstreamTls
          ? this.#state?.caBundles.get(cluster.upstreamTls.caBundle)
          : undefined;
        const pool = this.#pools.get(endpoint, cluster, caBundle);
        if (!("dispatcher" in pool)) return Promise.resolve(false);
        return probeEndpoint(pool, check.path, check.timeoutMs, signal);
      },
    });
    this.#keysWatch = watchSharedKeys(
      this.#options.keysDir,
      keys,
      (affinityKeys) => {
        this.#clusters.setAffinityKeys(affinityKeys);
        this.#logger.info("Applied rotated affinity keys", { keys: affinityKeys.length });
      },
      (error) =>
        this.#logger.warn("Failed to read the shared keys; keeping the current ones", {
          error: error instanceof Error ? error.message : String(error),
        }),
    );
    const trustedProxies = compileTrustedProxies(this.#options.trustedProxies);
    const handlerOptions = {
      state: () => this.#state,
      httpsRedirectPort: this.#options.httpsPort,
      pools: this.#pools,
      trustedProxies,
      metrics: this.#metrics,
      accessLog: this.#accessLog,
      draining: () => this.#draining,
    };
    this.#https = createHttpsListener({
      port: this.#options.httpsPort,
      host: this.#options.bindAddress,
      reusePort: true,
      // Reading the ClientHello ourselves costs little (under 3 % of a handshake, measured) and buys the
      // unrecognized_name alert for unknown names and the SNI of resumed TLS 1.2 sessions (for 421s).
      readClientHello: "always",
      certificateStore: new CertificateStore({ logger: this.#logger, metrics: this.#metrics }),
      ticketKeyRing: new TicketKeyRing({
        secret: keys.ticketSecret,
        rotationSeconds: INITIAL_ROTATION_SECONDS,
      }),
      passthrough: {
        pickBackend: (_serverName, route) =>
          this.#clusters.get(route.cluster)?.pick({ cookieHeader: undefined })?.endpoint,
      },
      logger: this.#logger,
      metrics: this.#metrics,
      requestHandler: createRequestHandler({ ...handlerOptions, scheme: "https" }),
    });
    this.#http = createServer(
      {
        maxHeaderSize: DEFAULT_HTTPS_LIMITS.maxHeaderBytes,
        headersTimeout: DEFAULT_HTTPS_LIMITS.headersTimeoutMs,
        requestTimeout: DEFAULT_HTTPS_LIMITS.requestTimeoutMs,
        keepAliveTimeout: DEFAULT_HTTPS_LIMITS.keepAliveTimeoutMs,
      },
      createRequestHandler({ ...handlerOptions, scheme: "http" }),
    );
    this.#http.maxHeadersCount = DEFAULT_HTTPS_LIMITS.maxHeaderCount;
    const initial = this.#options.initialConfigPath;
    if (initial !== undefined) {
      const load = await loadConfigFile(initial);
      if (load.ok) await this.#apply(load.config);
      else
        this.#logger.warn("Ignored initial proxy config", {
          path: initial,
          problems: load.problems.slice(0, 5).join("; "),
        });
    }
    this.#watch = watchConfigFile(
      this.#options.configPath,
      {
        onConfig: (config) => this.#apply(config),
        onRejected: (problems) => {
          this.#metrics.configApplied("", "rejected");
          this.#logger.error("Rejected proxy config; still serving the last good one", {
            path: this.#options.configPath,
            problems: problems.slice(0, 10).join("; "),
          });
        },
      },
      this.#logger,
    );
  }

  /** Builds everything a config needs, then swaps it in at once: a request sees the old or the new state. */
  async #apply(config: ProxyConfig): Promise<void> {
    const caBundles = new Map<string, string>();
    for (const bundle of config.caBundles) {
      try {
        caBundles.set(bundle.name, await readFile(bundle.file, "utf8"));
      } catch (error) {
        this.#logger.error("Failed to read CA bundle; clusters using it will fail closed", {
          caBundle: bundle.name,
          error: (error as Error).message,
        });
      }
    }
    await this.#https.update(config);
    const router = new Router(config);
    this.#clusters.apply(config);
    this.#state = { config, router, clusters: this.#clusters, caBundles };
    const live = config.clusters.flatMap((c) =>
      c.backends.flatMap((b) => b.endpoints.map(endpointKey)),
    );
    void this.#pools.sync(live);
    this.#metrics.configApplied(config.version, "ok");
    this.#logger.info("Applied proxy config", { version: config.version });
    process.send?.({
      type: "applied",
      version: config.version,
      sources: config.sources,
    } satisfies WorkerMessage);
    if (!this.#listening) {
      this.#listening = true;
      await this.#https.listen();
      await new Promise<void>((resolve, reject) => {
        this.#http.once("error", reject);
        this.#http.listen(
          { port: this.#options.httpPort, host: this.#options.bindAddress, reusePort: true },
          () => resolve(),
        );
      });
      this.#logger.info("Listening", {
        httpsPort: this.#options.httpsPort,
        httpPort: (this.#http.address() as AddressInfo).port,
      });
      process.send?.({ type: "ready" } satisfies WorkerMessage);
    }
  }

  /**
   * The drain delay: keeps accepting, but HTTP/1 responses now carry Connection: close, so that
   * clients move to other proxies before this one stops accepting and closes what is left idle.
   */
  announceDrain(): void {
    this.#draining = true;
    // Undefined while start() is still reading the keys: drain() follows and covers it.
    this.#https?.announceDrain();
  }

  /** Stops accepting, lets in-flight requests finish (HTTP/1 gets Connection: close, HTTP/2 GOAWAY), exits. */
  async drain(deadline: number): Promise<void> {
    this.#draining = true;
    this.#watch?.close();
    this.#keysWatch?.close();
    this.#http.close();
    this.#http.closeIdleConnections();
    const timer = setTimeout(
      () => this.#http.closeAllConnections(),
      Math.max(0, deadline - Date.now()),
    );
    await this.#https.close(deadline);
    await new Promise<void>((resolve) => {
      if (!this.#http.listening) resolve();
      else this.#http.once("close", () => resolve());
    });
    clearTimeout(timer);
    this.#clusters.stop();
    await this.#pools.close();
    this.#accessLog.close();
    this.#logger.info("Drained worker");
  }
}

let worker: Worker | undefined;
process.on("message", (message: WorkerMessage) => {
  if (message.type === "start" && !worker) {
    worker = new Worker(message.options, message.index);
    worker.start().catch((error: unknown) => {
      console.error(
        JSON.stringify({
          level: "error",
          message: "Failed to start proxy worker",
          error: String(error),
        }),
      );
      process.exit(1);
    });
  } else if (message.type === "announce-drain") {
    worker?.announceDrain();
  } else if (message.type === "drain") {
    const exit = (): never => process.exit(0);
    if (!worker) exit();
    worker?.drain(message.deadline).then(exit, exit);
  }
});
// The supervisor going away means this worker must not linger holding the port.
process.on("disconnect", () => {
  if (worker) void worker.drain(Date.now() + 5000).finally(() => process.exit(0));
  else process.exit(0);
});
