// undici's connection pool, loaded on its own. The package root also loads fetch, WebSocket, the
// cache interceptors and their dependencies (109 modules), none of which the proxy uses: loading
// `lib/dispatcher/pool.js` alone takes about 12 MiB less resident memory in every worker process
// (measured: 27.5 vs 15.2 MiB). undici has no `exports` map, so the path is reachable; its shape is
// the public Pool class the package root re-exports, and test/upstream tests exercise it.
import { createRequire } from "node:module";
import type { Pool as UndiciPool } from "undici";

const require = createRequire(import.meta.url);

/** undici's Pool class (the same constructor `import { Pool } from "undici"` gives). */
export const Pool: typeof UndiciPool = require("undici/lib/dispatcher/pool.js");
