// Free loopback ports for the proxies and backends. Chosen below the kernel's ephemeral range, so the
// load generators' own client ports never land on them, and never handed out twice by this process.
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";

const handedOut = new Set<number>();

/** Whether 127.0.0.1:`port` can be bound now (0: any); the bound port, or 0. */
async function tryBind(port: number): Promise<number> {
  const server = createServer();
  try {
    server.listen({ port, host: "127.0.0.1", exclusive: true });
    await once(server, "listening");
    return (server.address() as AddressInfo).port;
  } catch {
    return 0;
  } finally {
    if (server.listening) {
      server.close();
      await once(server, "close");
    }
  }
}

/** A port that was free a moment ago (the proxies bind it themselves, some with SO_REUSEPORT). */
export async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(
      (await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8")).split(/\s+/)[0],
    );
  } catch {
    // Unknown range: the default above.
  }
  const floor = 20000;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = floor + Math.floor(Math.random() * Math.max(1000, low - floor));
    if (handedOut.has(port)) continue;
    if ((await tryBind(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("found no free loopback port");
}
