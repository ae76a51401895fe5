// A backend in a process of its own, so that a test can SIGKILL it (the kernel then closes its sockets
// as a crashed pod's would) and so that serving the load does not compete with the load generator's
// event loop. Run as `node backend-process.ts NAME`: listens on 127.0.0.1:0, prints one JSON line
// `{"port":N}`, then answers every request 200 with its name (body and X-Backend header). A query
// `delay=MS` (at most 60 s) holds the answer, and such requests are announced on stdout as
// `{"arrived":URL}` so that a test knows they are in flight.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** Longest delay a request may ask for: above the 30-second in-flight request of the drain test. */
const MAX_DELAY_MS = 60_000;

const name = process.argv[2] ?? "backend";
const body = Buffer.from(name);
const headers = {
  "content-type": "text/plain; charset=utf-8",
  "content-length": String(body.length),
  "x-backend": name,
};

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  const delayMs =
    query === -1
      ? 0
      : Math.min(
          MAX_DELAY_MS,
          Number(new URLSearchParams(url.slice(query + 1)).get("delay") ?? 0) || 0,
        );
  const answer = (): void => {
    res.writeHead(200, headers);
    res.end(body);
  };
  if (delayMs <= 0) {
    answer();
    return;
  }
  process.stdout.write(`${JSON.stringify({ arrived: url })}\n`);
  setTimeout(answer, delayMs);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
// The test process going away (its IPC channel or stdin closing) takes this backend with it.
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
