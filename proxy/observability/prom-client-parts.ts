// The parts of prom-client the proxy uses, loaded on their own. The package root also loads the
// Pushgateway (node:http, node:https, node:zlib and url), Summary (with tdigest and bintrees) and
// the bucket generators, none of which the proxy uses, in the supervisor and in every worker.
// prom-client has no `exports` map, so these paths are reachable; each is the very module the root
// re-exports (the same class objects, so `instanceof` and a Registry built either way agree), and
// the metrics tests exercise them. Types come from the package root's declarations.
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";

const require = createRequire(import.meta.url);

export const Registry: typeof PromClient.Registry = require("prom-client/lib/registry.js");
export type Registry = PromClient.Registry;
export const Counter: typeof PromClient.Counter = require("prom-client/lib/counter.js");
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge: typeof PromClient.Gauge = require("prom-client/lib/gauge.js");
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const AggregatorRegistry: typeof PromClient.AggregatorRegistry = require("prom-client/lib/cluster.js");
export const collectDefaultMetrics: typeof PromClient.collectDefaultMetrics = require("prom-client/lib/defaultMetrics.js");
