// The least a Node proxy can do with the HTTP client this project uses: Node's `https` server and
// undici's low-level `dispatch` with a handler of its own, round robin over the backends, request
// headers copied from the raw list, response headers handed on as a flat list. No routing, affinity,
// limits, timeouts, retries, logs or metrics — so its cost per request is the floor of the forwarding
// path itself, to set the whole proxy against (scripts/bench/floor.sh). Not for serving anything.
//
//   node minimal-forwarder.ts CERT KEY PORT BACKEND_PORT...
import { createServer } from "node:https";
import { Pool } from "undici";
import { floorServerOptions } from "./server-options.ts";

const [certPath, keyPath, port, ...backendPorts] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined || port === undefined) {
  throw new Error("usage: minimal-forwarder.ts CERT KEY PORT BACKEND_PORT...");
}
const pools = backendPorts.map((backend) => new Pool(`http://127.0.0.1:${backend}`));
if (pools.length === 0) throw new Error("minimal-forwarder.ts: no backend ports given");
let next = 0;

createServer(floorServerOptions(certPath, keyPath), (req, res) => {
  const pool = pools[next++ % pools.length] as Pool;
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "connection") {
      headers.push(raw[i] as string, raw[i + 1] as string);
    }
  }
  pool.dispatch(
    { path: req.url ?? "/", method: req.method ?? "GET", headers, body: null },
    {
      onRequestStart() {},
      onResponseStart(_controller, status, upstreamHeaders) {
        const flat: string[] = [];
        for (const [name, value] of Object.entries(upstreamHeaders)) {
          if (name === "connection" || name === "keep-alive" || value === undefined) continue;
          for (const one of Array.isArray(value) ? value : [value]) flat.push(name, one);
        }
        res.writeHead(status, flat);
      },
      onResponseData(_controller, chunk) {
        res.write(chunk);
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    },
  );
}).listen(Number(port), "127.0.0.1");
