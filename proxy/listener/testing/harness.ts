// Starts a real HTTPS listener on an ephemeral port for tests. Test-only.
import type { ProxyConfig } from "../../config/types.ts";
import { CertificateStore } from "../certificate-store.ts";
import { createHttpsListener, type HttpsListener } from "../https-listener.ts";
import type { HttpsLimitOverrides } from "../limits.ts";
import type { PickPassthroughBackend } from "../passthrough.ts";
import type { RequestHandler } from "../terminator.ts";
import { type TicketClock, TicketKeyRing } from "../tickets.ts";
import { RecordingLogger, RecordingMetrics } from "./fixtures.ts";

/** A started listener and everything around it. */
export interface RunningListener {
  readonly listener: HttpsListener;
  readonly port: number;
  readonly store: CertificateStore;
  readonly ring: TicketKeyRing;
  readonly logger: RecordingLogger;
  readonly metrics: RecordingMetrics;
  /** Drains with a short deadline and releases everything. */
  stop(): Promise<void>;
}

/** The default handler: answers 200 with the protocol version. */
export const echoHandler: RequestHandler = (request, response) => {
  response.end(`hello over HTTP/${request.httpVersion}`);
};

/** Options of startListener. */
export interface StartOptions {
  config: ProxyConfig;
  /** Shared ticket secret. Default 32 bytes of 0x42. */
  secret?: Buffer;
  clock?: TicketClock;
  requestHandler?: RequestHandler;
  pickBackend?: PickPassthroughBackend;
  limits?: HttpsLimitOverrides;
  watchDirectories?: boolean;
  readClientHello?: "auto" | "always";
}

/** Creates a store, ring and listener, applies `config`, and listens on 127.0.0.1:0. */
export async function startListener(options: StartOptions): Promise<RunningListener> {
  const logger = new RecordingLogger();
  const metrics = new RecordingMetrics();
  const store = new CertificateStore({
    logger,
    metrics,
    watchDirectories: options.watchDirectories,
  });
  const ring = new TicketKeyRing({
    secret: options.secret ?? Buffer.alloc(32, 0x42),
    rotationSeconds: options.config.listener.sessionTicketRotationSeconds,
    clock: options.clock,
  });
  const listener = createHttpsListener({
    port: 0,
    host: "127.0.0.1",
    certificateStore: store,
    ticketKeyRing: ring,
    passthrough: options.pickBackend ? { pickBackend: options.pickBackend } : undefined,
    logger,
    metrics,
    requestHandler: options.requestHandler ?? echoHandler,
    limits: options.limits,
    readClientHello: options.readClientHello,
  });
  await listener.update(options.config);
  const { port } = await listener.listen();
  return {
    listener,
    port,
    store,
    ring,
    logger,
    metrics,
    async stop() {
      await listener.close(Date.now() + 2000);
      store.close();
      ring.close();
    },
  };
}
