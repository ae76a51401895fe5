// The floor under any Node HTTPS proxy: Node's own `https` server answering `ok` by itself, with the
// benchmark's certificate and session-ticket support. What it costs per connection and per request,
// and the memory it holds under load, no Node proxy can go below (scripts/bench/floor.sh).
//
//   node bare-https.ts CERT KEY PORT
import { createServer } from "node:https";
import { floorServerOptions } from "./server-options.ts";

const [certPath, keyPath, port] = process.argv.slice(2);
if (certPath === undefined || keyPath === undefined || port === undefined) {
  throw new Error("usage: bare-https.ts CERT KEY PORT");
}
createServer(floorServerOptions(certPath, keyPath), (_req, res) => {
  res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
  res.end("ok");
}).listen(Number(port), "127.0.0.1");
