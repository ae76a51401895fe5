// The TLS server options both floor servers use: the benchmark's certificate, session tickets with
// keys of their own (as every proxy in the benchmark has), TLS 1.2 and up, long keep-alive.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerOptions } from "node:https";

export function floorServerOptions(certPath: string, keyPath: string): ServerOptions {
  return {
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    ticketKeys: randomBytes(48),
    minVersion: "TLSv1.2",
    keepAliveTimeout: 60_000,
  };
}
