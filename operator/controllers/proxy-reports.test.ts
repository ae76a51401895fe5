// readyAdminAddresses over hand-built EndpointSlices, and fetchProxyReports against real node:http
// servers on 127.0.0.1 ephemeral ports: one per way a proxy can answer (or not).
import assert from "node:assert/strict";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { V1Endpoint, V1EndpointSlice } from "@kubernetes/client-node";
import { fetchProxyReports, readyAdminAddresses } from "./proxy-reports.ts";

function slice(endpoints: V1Endpoint[], ports = [{ name: "admin", port: 9901 }]): V1EndpointSlice {
  return { addressType: "IPv4", endpoints, ports };
}

describe("readyAdminAddresses", () => {
  test("uses only the port named admin", () => {
    const slices = [
      slice(
        [{ addresses: ["10.0.0.1"] }],
        [
          { name: "http", port: 8080 },
          { name: "admin", port: 9901 },
          { name: "https", port: 8443 },
        ],
      ),
    ];
    assert.deepEqual(readyAdminAddresses(slices), ["10.0.0.1:9901"]);
  });

  test("a slice without an admin port (or without ports) gives nothing", () => {
    const slices = [
      slice([{ addresses: ["10.0.0.1"] }], [{ name: "http", port: 8080 }]),
      { addressType: "IPv4", endpoints: [{ addresses: ["10.0.0.2"] }] },
    ];
    assert.deepEqual(readyAdminAddresses(slices), []);
  });

  test("skips endpoints whose ready condition is false; absent ready counts as ready", () => {
    const slices = [
      slice([
        { addresses: ["10.0.0.1"], conditions: { ready: false, terminating: true } },
        { addresses: ["10.0.0.2"], conditions: {} },
        { addresses: ["10.0.0.3"] },
        { addresses: ["10.0.0.4"], conditions: { ready: true } },
      ]),
    ];
    assert.deepEqual(readyAdminAddresses(slices), [
      "10.0.0.2:9901",
      "10.0.0.3:9901",
      "10.0.0.4:9901",
    ]);
  });

  test("brackets IPv6 addresses", () => {
    const slices = [{ ...slice([{ addresses: ["fd00::1"] }]), addressType: "IPv6" }];
    assert.deepEqual(readyAdminAddresses(slices), ["[fd00::1]:9901"]);
  });

  test("sorted and de-duplicated across slices, each with its own admin port", () => {
    const slices = [
      slice([{ addresses: ["10.0.0.9"] }, { addresses: ["10.0.0.1"] }]),
      slice([{ addresses: ["10.0.0.1"] }, { addresses: ["10.0.0.5"] }]),
      slice([{ addresses: ["10.0.0.1"] }], [{ name: "admin", port: 9902 }]),
    ];
    assert.deepEqual(readyAdminAddresses(slices), [
      "10.0.0.1:9901",
      "10.0.0.1:9902",
      "10.0.0.5:9901",
      "10.0.0.9:9901",
    ]);
  });

  test("every address of a multi-address endpoint", () => {
    assert.deepEqual(readyAdminAddresses([slice([{ addresses: ["10.0.0.2", "10.0.0.1"] }])]), [
      "10.0.0.1:9901",
      "10.0.0.2:9901",
    ]);
  });

  test("no slices: no addresses", () => {
    assert.deepEqual(readyAdminAddresses([]), []);
  });
});

/** Listens on 127.0.0.1 on an ephemeral port; resolves with the server and its "host:port". */
async function listen(handler: RequestListener): Promise<{ server: Server; address: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, address: `127.0.0.1:${port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const NOT_SERVING = { version: null, sources: [] };
const TIMEOUT_MS = 200;

describe("fetchProxyReports", () => {
  const servers: Server[] = [];
  const paths: string[] = [];
  let healthy = "";
  let unavailable = "";
  let hanging = "";
  let notJson = "";
  let wrongShape = "";
  let refused = "";
  let oversized = "";

  async function start(handler: RequestListener): Promise<string> {
    const { server, address } = await listen((request, response) => {
      paths.push(request.url ?? "");
      handler(request, response);
    });
    servers.push(server);
    return address;
  }

  before(async () => {
    healthy = await start((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          version: "sha256:abc",
          appliedAt: "2024-05-06T07:08:09Z",
          sources: [
            { kind: "Ingress", namespace: "shop", name: "web", generation: 4 },
            { kind: "LoadBalancerPolicy", namespace: "shop", name: "edge", generation: 2 },
            { kind: "Service", namespace: "shop", name: "web", generation: 1 },
            { kind: "Ingress", namespace: "shop", name: "web", generation: "4" },
            { kind: "Ingress", name: "no-namespace", generation: 1 },
            "Ingress/shop/web",
            null,
          ],
        }),
      );
    });
    unavailable = await start((_request, response) => {
      response.statusCode = 503;
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ version: "sha256:abc", sources: [] }));
    });
    hanging = await start(() => {
      // Never answers: the server closes the connection in after().
    });
    notJson = await start((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end("<html>not a config</html>");
    });
    wrongShape = await start((_request, response) => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ version: 7, sources: { kind: "Ingress" } }));
    });
    oversized = await start((_request, response) => {
      // Chunked (no content-length): 9 MiB of a JSON string, over the 8 MiB limit.
      response.setHeader("content-type", "application/json");
      response.write('{"version":"');
      const chunk = "a".repeat(1024 * 1024);
      for (let i = 0; i < 9; i++) response.write(chunk);
      response.end('","sources":[]}');
    });
    const { server, address } = await listen(() => {});
    await close(server);
    refused = address;
  });

  after(async () => {
    await Promise.all(servers.map(close));
  });

  test("a proxy's /config: version and its valid sources only", async () => {
    const reports = await fetchProxyReports([healthy], TIMEOUT_MS, new AbortController().signal);
    assert.deepEqual(reports, [
      {
        version: "sha256:abc",
        sources: [
          { kind: "Ingress", namespace: "shop", name: "web", generation: 4 },
          { kind: "LoadBalancerPolicy", namespace: "shop", name: "edge", generation: 2 },
        ],
      },
    ]);
    assert.ok(paths.includes("/config"));
  });

  test("a chunked answer over 8 MiB: not serving (counted while read)", async () => {
    const reports = await fetchProxyReports([oversized], 5000, new AbortController().signal);
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("a 503 answer: not serving", async () => {
    const reports = await fetchProxyReports(
      [unavailable],
      TIMEOUT_MS,
      new AbortController().signal,
    );
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("no answer within the timeout: not serving", async () => {
    const reports = await fetchProxyReports([hanging], TIMEOUT_MS, new AbortController().signal);
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("an answer that is not JSON: not serving", async () => {
    const reports = await fetchProxyReports([notJson], TIMEOUT_MS, new AbortController().signal);
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("JSON of the wrong shape: version null, no sources", async () => {
    const reports = await fetchProxyReports([wrongShape], TIMEOUT_MS, new AbortController().signal);
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("a refused connection: not serving", async () => {
    const reports = await fetchProxyReports([refused], TIMEOUT_MS, new AbortController().signal);
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("an aborted signal: not serving", async () => {
    const reports = await fetchProxyReports([healthy], TIMEOUT_MS, AbortSignal.abort());
    assert.deepEqual(reports, [NOT_SERVING]);
  });

  test("one report per address, in the addresses' order, failures included", async () => {
    const reports = await fetchProxyReports(
      [refused, healthy, hanging, notJson, unavailable],
      TIMEOUT_MS,
      new AbortController().signal,
    );
    assert.deepEqual(
      reports.map((report) => report.version),
      [null, "sha256:abc", null, null, null],
    );
    assert.equal(reports[1]?.sources.length, 2);
  });

  test("no addresses: no reports", async () => {
    assert.deepEqual(await fetchProxyReports([], TIMEOUT_MS, new AbortController().signal), []);
  });
});
