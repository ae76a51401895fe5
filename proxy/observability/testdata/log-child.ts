// Writes a few log and access lines to real stdout and exits at once, for logger tests that must see
// exactly what reaches the process's output.
import { createAccessLogger, createLogger } from "../logger.ts";

const logger = createLogger({ level: "info", component: "test" });
logger.info("Received request", {
  cookie: "session=COOKIE-VALUE",
  authorization: "Bearer AUTH-VALUE",
  "Proxy-Authorization": "Basic PROXY-AUTH-VALUE",
  "set-cookie": "id=SET-COOKIE-VALUE",
  apiToken: "TOKEN-VALUE",
  clientSecret: "SECRET-VALUE",
  password: "PASSWORD-VALUE",
  privateKey: "KEY-VALUE",
  note: "-----BEGIN PRIVATE KEY-----PEM-VALUE",
  route: "default/web",
});
logger.debug("Skipped debug line", { route: "default/web" });

const access = createAccessLogger();
const record = {
  method: "GET",
  host: "app.example.com",
  path: "/app-1/items?session=QUERY-VALUE&x=1",
  status: 200,
  durationMs: 1.5,
  route: "default/web",
  cluster: "default/web-80",
  endpoint: "0123456789abcdef",
  bytesSent: 12,
  protocol: "HTTP/1.1",
  clientAddress: "10.0.0.1",
  // Not part of AccessRecord: a careless caller passing the request's headers along.
  headers: { cookie: "session=HEADER-COOKIE-VALUE", authorization: "Bearer HEADER-AUTH-VALUE" },
};
access.log(record);
// Exit before the buffered access line's turn comes: the exit hook must still write it.
process.exit(0);
