// A standalone HTTPS listener process for tests that need separate processes (fleet-wide session
// resumption). Usage: node listener-process.ts CONFIG_JSON_FILE TICKET_SECRET_FILE [NAME]
// Prints one JSON line {"port": N} once listening; drains and exits when stdin closes. Test-only.
import { readFile } from "node:fs/promises";
import type { ProxyConfig } from "../../config/types.ts";
import { noopLogger, noopMetrics } from "../../observability/ports.ts";
import { CertificateStore } from "../certificate-store.ts";
import { createHttpsListener } from "../https-listener.ts";
import { TicketKeyRing } from "../tickets.ts";

const [configFile, secretFile] = process.argv.slice(2);
if (!configFile || !secretFile)
  throw new Error("usage: listener-process.ts CONFIG_JSON_FILE TICKET_SECRET_FILE");
const config = JSON.parse(await readFile(configFile, "utf8")) as ProxyConfig;
const store = new CertificateStore({ logger: noopLogger, metrics: noopMetrics });
const ring = new TicketKeyRing({
  secret: await readFile(secretFile),
  rotationSeconds: config.listener.sessionTicketRotationSeconds,
});
const listener = createHttpsListener({
  port: 0,
  host: "127.0.0.1",
  certificateStore: store,
  ticketKeyRing: ring,
  logger: noopLogger,
  metrics: noopMetrics,
  requestHandler: (_request, response) => response.end(`pid ${process.pid}`),
});
await listener.update(config);
const { port } = await listener.listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void listener.close(Date.now() + 1000).then(() => {
    store.close();
    ring.close();
    process.exit(0);
  });
});
