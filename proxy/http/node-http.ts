// node:http's values, loaded with require() instead of an ES import.
//
// Why: to build an ES module namespace for a built-in, Node reads every export of it, and three of
// node:http's (WebSocket, CloseEvent, MessageEvent) are lazy getters that load Node's bundled undici
// (with webstreams, worker_threads, zlib and http2 behind it). Measured on Node 24: `import "node:http"`
// raises a fresh process's RSS by 16.6 MiB, `require("node:http")` by 3.4 MiB. Every proxy process
// pays it (the supervisor's admin server, each worker's plain-HTTP listener), and one ES import of
// node:http anywhere in a process is enough, so runtime code imports these values from here; type
// imports from "node:http" cost nothing and stay where they are. proxy/module-footprint.test.ts
// proves the proxy's processes do not load Node's undici.
import { createRequire } from "node:module";

const http: typeof import("node:http") = createRequire(import.meta.url)("node:http");

export const { createServer, STATUS_CODES } = http;
