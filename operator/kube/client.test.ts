// KubeClient (client.ts) without an API server: objectPath's table, and what the client makes of
// answers a real API server rarely gives on demand (429 with Retry-After, no answer at all), against a
// node:http server on an ephemeral port. Writes against a real API server are in
// test/integration/kube-client.test.ts.
import assert from "node:assert/strict";
import diagnosticsChannel from "node:diagnostics_channel";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { setImmediate } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import {
  createKubeClient,
  KUBE_REQUEST_CHANNEL,
  type KubeRequestDiagnostic,
  objectPath,
} from "./client.ts";
import { KubeApiError } from "./errors.ts";

describe("objectPath", () => {
  test("builds the path of each kind in the table, and of its collection", () => {
    const cases: [string, string, string | undefined, string][] = [
      ["v1", "ConfigMap", "a", "/api/v1/namespaces/a/configmaps/n"],
      ["v1", "Secret", "a", "/api/v1/namespaces/a/secrets/n"],
      ["v1", "Service", "a", "/api/v1/namespaces/a/services/n"],
      ["v1", "ServiceAccount", "a", "/api/v1/namespaces/a/serviceaccounts/n"],
      ["v1", "Event", "a", "/api/v1/namespaces/a/events/n"],
      ["apps/v1", "Deployment", "a", "/apis/apps/v1/namespaces/a/deployments/n"],
      [
        "policy/v1",
        "PodDisruptionBudget",
        "a",
        "/apis/policy/v1/namespaces/a/poddisruptionbudgets/n",
      ],
      [
        "rbac.authorization.k8s.io/v1",
        "Role",
        "a",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/a/roles/n",
      ],
      [
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "a",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/a/rolebindings/n",
      ],
      [
        "networking.k8s.io/v1",
        "Ingress",
        "a",
        "/apis/networking.k8s.io/v1/namespaces/a/ingresses/n",
      ],
      [
        "networking.k8s.io/v1",
        "IngressClass",
        undefined,
        "/apis/networking.k8s.io/v1/ingressclasses/n",
      ],
      [
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "a",
        "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices/n",
      ],
      [
        "coordination.k8s.io/v1",
        "Lease",
        "a",
        "/apis/coordination.k8s.io/v1/namespaces/a/leases/n",
      ],
      ["events.k8s.io/v1", "Event", "a", "/apis/events.k8s.io/v1/namespaces/a/events/n"],
      [
        "cert-manager.io/v1",
        "Certificate",
        "a",
        "/apis/cert-manager.io/v1/namespaces/a/certificates/n",
      ],
      [
        "portcullis.dev/v1alpha1",
        "LoadBalancerPolicy",
        "a",
        "/apis/portcullis.dev/v1alpha1/namespaces/a/loadbalancerpolicies/n",
      ],
    ];
    for (const [apiVersion, kind, namespace, path] of cases) {
      assert.equal(objectPath({ apiVersion, kind, namespace, name: "n" }), path);
      assert.equal(
        objectPath({ apiVersion, kind, namespace }),
        path.slice(0, -"/n".length),
        `${apiVersion} ${kind} collection`,
      );
    }
  });

  test("escapes names", () => {
    assert.equal(
      objectPath({ apiVersion: "v1", kind: "Secret", namespace: "a", name: "x/y?z" }),
      "/api/v1/namespaces/a/secrets/x%2Fy%3Fz",
    );
  });

  test("throws a clear Error for an unknown kind, a missing or extra namespace, an empty name", () => {
    const cases: [Parameters<typeof objectPath>[0], RegExp][] = [
      [
        { apiVersion: "v1", kind: "Pod", namespace: "a", name: "n" },
        /unknown kind Pod of apiVersion v1/,
      ],
      [
        { apiVersion: "apps/v1beta1", kind: "Deployment", namespace: "a" },
        /unknown kind Deployment/,
      ],
      [{ apiVersion: "v1", kind: "ConfigMap", name: "n" }, /ConfigMap \(v1\) is namespaced/],
      [{ apiVersion: "v1", kind: "ConfigMap", namespace: "", name: "n" }, /is namespaced/],
      [
        { apiVersion: "networking.k8s.io/v1", kind: "IngressClass", namespace: "a", name: "n" },
        /IngressClass \(networking.k8s.io\/v1\) is cluster-scoped/,
      ],
      [{ apiVersion: "v1", kind: "Secret", namespace: "a", name: "" }, /name must not be empty/],
    ];
    for (const [ref, message] of cases) assert.throws(() => objectPath(ref), message);
  });
});

describe("KubeClient against a local HTTP server", () => {
  type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
  let server: Server;
  let handler: Handler;
  let connections = 0;
  let kubeConfig: KubeConfig;
  const published: KubeRequestDiagnostic[] = [];
  const onPublish = (message: unknown): void => {
    published.push(message as KubeRequestDiagnostic);
  };

  before(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      req.on("end", () => handler(req, res, body));
    });
    server.on("connection", () => {
      connections += 1;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    diagnosticsChannel.subscribe(KUBE_REQUEST_CHANNEL, onPublish);
  });

  after(async () => {
    diagnosticsChannel.unsubscribe(KUBE_REQUEST_CHANNEL, onPublish);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  beforeEach(() => {
    published.length = 0;
    connections = 0;
  });

  const json = (res: ServerResponse, status: number, body: unknown, headers = {}): void => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const ref = { apiVersion: "v1", kind: "ConfigMap", namespace: "a", name: "b" };

  test("a 429 rejects with KubeApiError carrying the server's message and Retry-After", async () => {
    handler = (_req, res) =>
      json(
        res,
        429,
        {
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          code: 429,
          reason: "TooManyRequests",
          message: "too many requests, please try again later",
          details: { retryAfterSeconds: 1 },
        },
        { "retry-after": "3" },
      );
    const client = createKubeClient({ kubeConfig, fieldManager: "test" });
    try {
      const error = await client.get(ref).catch((e: unknown) => e);
      assert.ok(error instanceof KubeApiError);
      assert.equal(error.code, "ERR_KUBE_API");
      assert.equal(error.statusCode, 429);
      assert.equal(error.reason, "TooManyRequests");
      assert.equal(error.message, "too many requests, please try again later");
      assert.equal(error.retryAfterSeconds, 3, "the header wins over details");
      assert.deepEqual(
        published.map(({ method, path, statusCode }) => ({ method, path, statusCode })),
        [{ method: "GET", path: "/api/v1/namespaces/a/configmaps/b", statusCode: 429 }],
      );
    } finally {
      await client.close();
    }
  });

  test("Retry-After: details.retryAfterSeconds without a header, an HTTP date, none on other statuses", async () => {
    let status = 503;
    let header: string | undefined;
    let details: unknown;
    handler = (_req, res) =>
      json(
        res,
        status,
        { kind: "Status", code: status, reason: "ServiceUnavailable", details },
        header === undefined ? {} : { "retry-after": header },
      );
    const client = createKubeClient({ kubeConfig, fieldManager: "test" });
    const retryAfter = async (): Promise<number | undefined> => {
      const error = await client.get(ref).catch((e: unknown) => e);
      assert.ok(error instanceof KubeApiError);
      return error.retryAfterSeconds;
    };
    try {
      details = { retryAfterSeconds: 5 };
      assert.equal(await retryAfter(), 5);
      details = undefined;
      assert.equal(await retryAfter(), undefined);
      header = new Date(Date.now() + 10_500).toUTCString();
      const fromDate = await retryAfter();
      assert.ok(fromDate !== undefined && fromDate >= 9 && fromDate <= 11, `${fromDate}`);
      header = "soon";
      assert.equal(await retryAfter(), undefined, "an unreadable header is ignored");
      status = 500;
      header = "3";
      assert.equal(await retryAfter(), undefined, "Retry-After is read on 429 and 503 only");
    } finally {
      await client.close();
    }
  });

  test("keeps one connection for all requests, and sends credentials and apply parameters", async () => {
    const seen: { method: string; url: string; auth: string; type: string; body: string }[] = [];
    handler = (req, res, body) => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        auth: req.headers.authorization ?? "",
        type: req.headers["content-type"] ?? "",
        body,
      });
      if (req.method === "DELETE")
        json(res, 404, { kind: "Status", code: 404, reason: "NotFound" });
      else json(res, 200, { kind: "ConfigMap", metadata: { name: "b", resourceVersion: "7" } });
    };
    const client = createKubeClient({ kubeConfig, fieldManager: "portcullis-test" });
    try {
      const object = { ...ref, metadata: { name: "b", namespace: "a" }, data: { k: "v" } };
      // undici hands the connection back to its pool a moment after the body was read: a request
      // sent in that same moment opens a second one. The ticks keep the count exact.
      await client.apply(object);
      await setImmediate();
      await client.apply(object, { subresource: "status" });
      await setImmediate();
      assert.ok(await client.get(ref));
      await setImmediate();
      assert.equal(await client.delete(ref, { uid: "u1" }), false);
      assert.equal(connections, 1, "one connection for all four requests");
      assert.deepEqual(
        seen.map(({ method, url }) => `${method} ${url}`),
        [
          "PATCH /api/v1/namespaces/a/configmaps/b?fieldManager=portcullis-test&force=true",
          "PATCH /api/v1/namespaces/a/configmaps/b/status?fieldManager=portcullis-test&force=true",
          "GET /api/v1/namespaces/a/configmaps/b",
          "DELETE /api/v1/namespaces/a/configmaps/b",
        ],
      );
      assert.ok(seen.every((request) => request.auth === "Bearer t"));
      assert.equal(seen[0]?.type, "application/apply-patch+yaml");
      assert.deepEqual(JSON.parse(seen[0]?.body ?? ""), object);
      assert.deepEqual(JSON.parse(seen[3]?.body ?? ""), {
        apiVersion: "v1",
        kind: "DeleteOptions",
        propagationPolicy: "Background",
        preconditions: { uid: "u1" },
      });
      assert.deepEqual(
        published.map((p) => p.statusCode),
        [200, 200, 200, 404],
      );
      for (const p of published) {
        assert.deepEqual(Object.keys(p).sort(), ["durationMs", "method", "path", "statusCode"]);
      }
    } finally {
      await client.close();
    }
  });

  test("a request without an answer times out, published with status 0; a closed client rejects", async () => {
    handler = () => {}; // never answers
    const client = createKubeClient({ kubeConfig, fieldManager: "test", requestTimeoutMs: 200 });
    const error = await client.get(ref).catch((e: unknown) => e);
    assert.ok(error instanceof Error);
    assert.equal(error.name, "TimeoutError");
    assert.equal(published.length, 1);
    assert.equal(published[0]?.statusCode, 0);
    assert.ok((published[0]?.durationMs ?? 0) >= 150);

    const caller = new AbortController();
    const pending = client.get(ref, caller.signal).catch((e: unknown) => e);
    caller.abort(new Error("stopping"));
    assert.equal(((await pending) as Error).message, "stopping");

    await client.close();
    await assert.rejects(client.get(ref), /closed/);
  });

  test("a 2xx answer that is not a JSON object is a KubeProtocolError that does not quote it", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("secret-data");
    };
    const client = createKubeClient({ kubeConfig, fieldManager: "test" });
    try {
      const error = await client.get(ref).catch((e: unknown) => e);
      assert.ok(error instanceof Error);
      assert.equal((error as { code?: string }).code, "ERR_KUBE_PROTOCOL");
      assert.doesNotMatch(error.message, /secret-data/);
    } finally {
      await client.close();
    }
  });
});
