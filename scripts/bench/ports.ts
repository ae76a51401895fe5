// Free loopback ports for the proxies and backends: the tests' own picker (below the kernel's
// ephemeral range, so the load generators' client ports never land on them; never handed out twice).
export { freePort } from "../../test/e2e/support.ts";
