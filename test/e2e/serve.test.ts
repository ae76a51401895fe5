// `portcullis serve` end to end: the real command on real manifests, real sockets and real TLS on
// loopback, two worker processes per proxy. Each test proves one promise of the proxy issue from the
// outside: what a client sees and what a backend receives.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { AffinityCookieCodec } from "../../proxy/cluster/affinity-cookie.ts";
import type { ProxyConfig } from "../../proxy/config/types.ts";
import { tlsHandshake } from "../../proxy/listener/testing/tls-client.ts";
import { WORKER_SEMI_SPACE_MIB } from "../../proxy/supervisor.ts";
import {
  adminGet,
  affinityCookie,
  type Backend,
  COOKIE_MAX_AGE_SECONDS,
  COOKIE_NAME,
  canMapConnections,
  delay,
  endpointSlicesYaml,
  type Fixture,
  fingerprintOf,
  get,
  getOverHttp2,
  HOST,
  headerNames,
  headerValues,
  ingressYaml,
  issueWildcard,
  keepAliveAgent,
  MANIFEST_FILES,
  metricValue,
  NODE,
  ownersOfConnections,
  PORTCULLIS,
  pollUntil,
  type Response,
  removeTree,
  type ServeProcess,
  startFixture,
  startNamedBackend,
  startServe,
  stopAllServes,
  temporaryRoot,
  tlsSecretYaml,
  within,
  writeFileAtomically,
  writeManifests,
} from "./support.ts";

const APP_1 = "shop/app-1:http";
const APP_2 = "shop/app-2:http";
/** Hooks start real processes on 2 busy cores: generous, but bounded. */
const HOOK_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 60_000;

let main: Fixture;
const cleanups: (() => Promise<void>)[] = [];

before(
  async () => {
    main = await startFixture();
  },
  { timeout: HOOK_TIMEOUT_MS },
);

after(
  async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await main?.close();
    await stopAllServes();
  },
  { timeout: HOOK_TIMEOUT_MS },
);

/** Starts a fixture that this test may break; it is closed when the file's tests end. */
async function ownFixture(options: Parameters<typeof startFixture>[0] = {}): Promise<Fixture> {
  const fixture = await startFixture(options);
  cleanups.push(() => fixture.close());
  return fixture;
}

/** The applied config as serve wrote it. */
async function appliedConfig(serve: ServeProcess): Promise<ProxyConfig> {
  return JSON.parse(await readFile(join(serve.stateDir, "config.json"), "utf8")) as ProxyConfig;
}

/** Parses a Set-Cookie line into its value and attributes (lower-case names). */
function parseSetCookie(line: string): { value: string; attributes: Map<string, string> } {
  const [pair = "", ...rest] = line.split(";").map((part) => part.trim());
  const attributes = new Map<string, string>();
  for (const attribute of rest) {
    const equals = attribute.indexOf("=");
    if (equals === -1) attributes.set(attribute.toLowerCase(), "");
    else attributes.set(attribute.slice(0, equals).toLowerCase(), attribute.slice(equals + 1));
  }
  return { value: pair.slice(pair.indexOf("=") + 1), attributes };
}

function backendNamed(backends: readonly Backend[], name: string): Backend {
  const backend = backends.find((b) => b.name === name);
  assert.ok(backend, `no backend named ${name}`);
  return backend;
}

test("TLS is terminated with the wildcard certificate: TLS 1.3 and 1.2 verify against the CA, TLS 1.1 and unknown names are refused, HTTP redirects with 308, HTTPS carries HSTS", async () => {
  const { serve, pki } = main;
  const expected = fingerprintOf(pki.leaf.certificatePem);
  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    const result = await tlsHandshake(serve.httpsPort, {
      servername: HOST,
      ca: pki.ca.certificatePem,
      minVersion: version,
      maxVersion: version,
      ALPNProtocols: ["h2", "http/1.1"],
      keepOpen: true,
    });
    assert.ok(result.ok, `${version} handshake failed: ${result.ok ? "" : result.error.message}`);
    try {
      assert.equal(result.protocol, version);
      assert.equal(result.socket.authorized, true, "the chain verifies against the test CA");
      assert.equal(result.socket.getPeerCertificate().fingerprint256, expected);
      assert.match(result.dnsNames, /DNS:\*\.example\.com/);
      assert.equal(result.alpn, "h2");
      if (version === "TLSv1.2") assert.match(result.cipher, /^ECDHE-.*-(GCM|POLY1305)/);
    } finally {
      result.socket.destroy();
    }
  }

  // A name no host or certificate covers gets the unrecognized_name alert (no default certificate).
  const unknown = await tlsHandshake(serve.httpsPort, {
    servername: "shop.other.test",
    ca: pki.ca.certificatePem,
  });
  assert.equal(unknown.ok, false);
  if (!unknown.ok) assert.equal(unknown.error.code, "ERR_SSL_TLSV1_UNRECOGNIZED_NAME");

  // The client is willing to speak TLS 1.1 (security level 0 allows it); the server must refuse.
  const old = await tlsHandshake(serve.httpsPort, {
    servername: HOST,
    ca: pki.ca.certificatePem,
    minVersion: "TLSv1.1",
    maxVersion: "TLSv1.1",
    ciphers: "DEFAULT:@SECLEVEL=0",
  });
  assert.equal(old.ok, false, "a TLS 1.1 handshake must fail");
  // The server's protocol_version alert, not the client giving up on its own.
  if (!old.ok) assert.equal(old.error.code, "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");

  const redirect = await get({ port: serve.httpPort, path: "/app-1/cart?item=7", plain: true });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.location, `https://${HOST}:${serve.httpsPort}/app-1/cart?item=7`);
  assert.equal(redirect.headers["strict-transport-security"], undefined, "no HSTS over plain HTTP");

  const secure = await get({ port: serve.httpsPort, path: "/app-1/", ca: pki.ca.certificatePem });
  assert.equal(secure.status, 200);
  assert.equal(secure.headers["strict-transport-security"], "max-age=31536000");
  assert.equal(secure.fingerprint256, expected);
});

test("path routing: /app-1 reaches only app-1's backends, /app-2 only app-2's (HTTP/1.1 and HTTP/2); a 404 without a request body keeps the connection", async () => {
  const { serve, pki, backends } = main;
  const marks = new Map(backends.all().map((b) => [b, b.requests.length]));
  const agent = keepAliveAgent(pki.ca.certificatePem);
  const answered = { "/app-1": new Set<string>(), "/app-2": new Set<string>() };
  try {
    for (let i = 0; i < 20; i++) {
      for (const prefix of ["/app-1", "/app-2"] as const) {
        const response = await get({
          port: serve.httpsPort,
          path: `${prefix}/item/${i}`,
          ca: pki.ca.certificatePem,
          agent,
        });
        assert.equal(response.status, 200);
        answered[prefix].add(response.body);
      }
    }
    const missing = await get({
      port: serve.httpsPort,
      path: "/app-3",
      ca: pki.ca.certificatePem,
      agent,
    });
    assert.equal(missing.status, 404, "a path no rule matches is not sent to any backend");
    // A request without a body leaves nothing unread on the connection: the 404 keeps it open.
    assert.notEqual(missing.headers.connection, "close");
    const next = await get({
      port: serve.httpsPort,
      path: "/app-1/after-404",
      ca: pki.ca.certificatePem,
      agent,
    });
    assert.equal(next.status, 200);
    assert.equal(next.localPort, missing.localPort, "the connection the 404 came on was reused");
  } finally {
    agent.destroy();
  }
  // The same over HTTP/2 (what browsers negotiate): routed by :authority and path.
  const overH2 = await getOverHttp2(serve.httpsPort, pki.ca.certificatePem, [
    "/app-1/h2",
    "/app-2/h2",
    "/app-1/h2",
    "/app-2/h2",
  ]);
  assert.deepEqual(
    overH2.map((r) => [r.status, r.body.slice(0, 5)]),
    [
      [200, "app-1"],
      [200, "app-2"],
      [200, "app-1"],
      [200, "app-2"],
    ],
  );
  // Without a cookie each request is balanced: both endpoints of each Service answer.
  assert.deepEqual([...answered["/app-1"]].sort(), ["app-1-a", "app-1-b"]);
  assert.deepEqual([...answered["/app-2"]].sort(), ["app-2-a", "app-2-b"]);
  for (const backend of backends.all()) {
    const seen = backend.requests.slice(marks.get(backend)).map((r) => r.url);
    const prefix = backend.name.startsWith("app-1") ? "/app-1/" : "/app-2/";
    assert.ok(seen.length > 0, `${backend.name} received nothing`);
    for (const url of seen) assert.ok(url.startsWith(prefix), `${backend.name} received ${url}`);
  }
});

test("affinity: 1,000 requests with the cookie all reach one backend, across both worker processes, and the Set-Cookie carries the policy's attributes", async (t) => {
  const { serve, pki, backends } = main;
  const ca = pki.ca.certificatePem;
  const first = await get({ port: serve.httpsPort, path: "/app-1/", ca });
  assert.equal(first.status, 200);
  const setCookie = first.headers["set-cookie"]?.find((c) => c.startsWith(`${COOKIE_NAME}=`));
  assert.ok(setCookie, "the first response pins the client");
  const { attributes } = parseSetCookie(setCookie);
  assert.equal(attributes.get("path"), "/app-1", "Path defaults to the matched route's path");
  const maxAge = Number(attributes.get("max-age"));
  assert.ok(
    maxAge > COOKIE_MAX_AGE_SECONDS - 5 && maxAge <= COOKIE_MAX_AGE_SECONDS,
    `Max-Age ${maxAge}`,
  );
  assert.equal(attributes.get("samesite"), "Lax");
  assert.ok(attributes.has("secure"), "Secure");
  assert.ok(attributes.has("httponly"), "HttpOnly");
  assert.ok(!attributes.has("domain"), "no Domain unless the policy sets one");
  const cookie = setCookie.split(";")[0] as string;
  const pinned = first.body;
  const other = backends.app1.find((b) => b.name !== pinned) as Backend;
  const otherMark = other.requests.length;

  // Four lanes of 250 requests, each on keep-alive connections replaced every 25 requests: 40
  // connections, which SO_REUSEPORT spreads over both worker processes.
  const LANES = 4;
  const PER_LANE = 250;
  const PER_CONNECTION = 25;
  const workers = await serve.workerPids();
  assert.equal(workers.length, 2, "serve runs two worker processes");
  for (const pid of workers) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const flag = `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`;
    assert.ok(argv.includes(flag), `worker ${pid}: ${argv.join(" ")}`);
  }
  const mapConnections = canMapConnections();
  const connectionsByWorker = new Map<number | undefined, number>();
  const bodies = new Map<string, number>();
  let reissued = 0;
  const lane = async (): Promise<void> => {
    for (let done = 0; done < PER_LANE; done += PER_CONNECTION) {
      const agent = keepAliveAgent(ca);
      let last: Response | undefined;
      try {
        for (let i = 0; i < PER_CONNECTION; i++) {
          last = await get({
            port: serve.httpsPort,
            path: `/app-1/cart/${done + i}`,
            ca,
            agent,
            headers: { cookie },
          });
          assert.equal(last.status, 200);
          bodies.set(last.body, (bodies.get(last.body) ?? 0) + 1);
          if (last.headers["set-cookie"] !== undefined) reissued++;
        }
        if (mapConnections && last) {
          const owners = await ownersOfConnections(workers, serve.httpsPort, [last.localPort]);
          const owner = owners.get(last.localPort);
          connectionsByWorker.set(owner, (connectionsByWorker.get(owner) ?? 0) + 1);
        }
      } finally {
        agent.destroy();
      }
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));

  assert.deepEqual(
    [...bodies],
    [[pinned, LANES * PER_LANE]],
    "every request reached the pinned backend",
  );
  assert.equal(reissued, 0, "a valid cookie is honoured, not re-issued");
  assert.equal(other.requests.length, otherMark, `${other.name} received none of them`);
  if (mapConnections) {
    t.diagnostic(`connections per worker pid: ${JSON.stringify([...connectionsByWorker])}`);
    for (const pid of workers) {
      assert.ok(
        (connectionsByWorker.get(pid) ?? 0) > 0,
        `worker ${pid} served none of the 40 connections`,
      );
    }
  } else {
    t.diagnostic("no /proc: which worker served each connection was not checked");
  }
});

test("a tampered affinity cookie (a flipped character, a wrong signature, truncated) is ignored: 200 and a fresh cookie", async () => {
  const { serve, pki } = main;
  const ca = pki.ca.certificatePem;
  const first = await get({ port: serve.httpsPort, path: "/app-1/", ca });
  const cookie = affinityCookie(first.headers);
  assert.ok(cookie);
  const value = cookie.slice(COOKIE_NAME.length + 1);

  // A well-formed cookie naming the other endpoint, signed with a key the proxy does not have.
  const config = await appliedConfig(serve);
  const cluster = config.clusters.find((c) => c.name === APP_1);
  assert.ok(cluster?.affinity);
  const otherEndpoint = cluster.backends[0]?.endpoints.find(
    (e) => main.backends.app1.find((b) => b.port === e.port)?.name !== first.body,
  );
  assert.ok(otherEndpoint);
  const forger = new AffinityCookieCodec({
    cluster: APP_1,
    affinity: cluster.affinity,
    keys: [Buffer.alloc(32, 7)],
  });
  const now = Math.floor(Date.now() / 1000);
  const forged = forger.encode({
    target: otherEndpoint.id,
    issuedAt: now,
    expiresAt: now + 3600,
    lastSeen: now,
  });

  const middle = Math.floor(value.length / 2);
  const flipped = `${value.slice(0, middle)}${value[middle] === "A" ? "B" : "A"}${value.slice(middle + 1)}`;
  const tampered = {
    "flipped character": flipped,
    "wrong signature": forged,
    truncated: value.slice(0, -6),
  };
  for (const [kind, bad] of Object.entries(tampered)) {
    assert.notEqual(bad, value);
    const response = await get({
      port: serve.httpsPort,
      path: "/app-1/",
      ca,
      headers: { cookie: `${COOKIE_NAME}=${bad}` },
    });
    assert.equal(response.status, 200, kind);
    const fresh = affinityCookie(response.headers);
    assert.ok(fresh, `${kind}: a fresh cookie is issued`);
    assert.notEqual(fresh, `${COOKIE_NAME}=${bad}`);
    // The fresh cookie is a real pin: honoured without being re-issued.
    const again = await get({
      port: serve.httpsPort,
      path: "/app-1/",
      ca,
      headers: { cookie: fresh },
    });
    assert.equal(again.body, response.body, `${kind}: the fresh cookie pins`);
    assert.equal(again.headers["set-cookie"], undefined);
  }
});

test("the pinned backend killed: the next GET with the old cookie is answered 200 by the other backend with a new cookie", {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const fixture = await ownFixture();
  const { serve, pki, backends } = fixture;
  const ca = pki.ca.certificatePem;
  const first = await get({ port: serve.httpsPort, path: "/app-1/", ca });
  const cookie = affinityCookie(first.headers);
  assert.ok(cookie);
  const pinned = backendNamed(backends.app1, first.body);
  const survivor = backends.app1.find((b) => b !== pinned) as Backend;
  const check = await get({ port: serve.httpsPort, path: "/app-1/", ca, headers: { cookie } });
  assert.equal(check.body, pinned.name, "pinned before the kill");

  await pinned.close();
  const mark = pinned.requests.length;
  // A fresh connection each time, so that both worker processes meet the dead pin.
  const newCookies = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const response = await get({
      port: serve.httpsPort,
      path: `/app-1/after/${i}`,
      ca,
      headers: { cookie },
    });
    assert.equal(response.status, 200, `request ${i} after the kill: ${response.body}`);
    assert.equal(response.body, survivor.name);
    const fresh = affinityCookie(response.headers);
    assert.ok(fresh, `request ${i}: re-pinned with a new cookie`);
    assert.notEqual(fresh, cookie);
    newCookies.add(fresh);
  }
  assert.equal(pinned.requests.length, mark, "the dead backend received nothing");
  const repinned = [...newCookies][0] as string;
  const after = await get({
    port: serve.httpsPort,
    path: "/app-1/",
    ca,
    headers: { cookie: repinned },
  });
  assert.equal(after.body, survivor.name);
  assert.equal(after.headers["set-cookie"], undefined, "the new cookie is honoured as it is");
});

test("hop-by-hop and spoofed forwarding headers never reach the backend; it sees the proxy's X-Forwarded-*", async () => {
  const { serve, pki, backends } = main;
  const headers = {
    connection: "keep-alive, X-Custom, x-other, Upgrade, HTTP2-Settings",
    "x-custom": "must not pass",
    "x-other": "must not pass either",
    "keep-alive": "timeout=5, max=100",
    te: "trailers",
    upgrade: "h2c",
    "http2-settings": "AAMAAABkAAQCAAAAAAIAAAAA",
    "proxy-authorization": "Basic dXNlcjpwYXNz",
    "proxy-connection": "keep-alive",
    "x-forwarded-for": "203.0.113.9",
    forwarded: "for=203.0.113.9;host=evil.example;proto=http",
    "x-forwarded-host": "evil.example",
    "x-forwarded-proto": "http",
    "x-forwarded-port": "1",
    "x-request-id": "spoofed-id",
    x_forwarded_for: "203.0.113.10",
    "x-end-to-end": "kept",
  };
  const dropped = [
    "x-custom",
    "x-other",
    "keep-alive",
    "te",
    "upgrade",
    "http2-settings",
    "proxy-authorization",
    "proxy-connection",
    "x_forwarded_for",
  ];
  // Control: the same request sent straight to a backend carries every one of those headers, so
  // their absence below is the proxy's doing, not the client's.
  const direct = backends.app2[0] as Backend;
  const controlPath = `/app-2/control/${Date.now()}`;
  await get({ port: direct.port, path: controlPath, plain: true, headers });
  const control = direct.requests.find((r) => r.url === controlPath);
  assert.ok(control);
  for (const name of dropped) {
    assert.ok(headerNames(control.rawHeaders).includes(name), `the client did not send ${name}`);
  }

  const path = `/app-2/hygiene/${Date.now()}`;
  const response = await get({ port: serve.httpsPort, path, ca: pki.ca.certificatePem, headers });
  assert.equal(response.status, 200);
  const recorded = backends.app2.flatMap((b) => b.requests).find((r) => r.url === path);
  assert.ok(recorded, "the request reached an app-2 backend");
  const raw = recorded.rawHeaders;
  const names = headerNames(raw);
  for (const name of dropped) {
    assert.ok(!names.includes(name), `${name} reached the backend`);
  }
  for (const value of headerValues(raw, "connection")) {
    assert.match(value, /^(keep-alive|close)$/i, `Connection: ${value} reached the backend`);
  }
  assert.ok(
    !raw.join("\n").includes("203.0.113"),
    "no client-supplied address reached the backend",
  );
  assert.ok(
    !raw.join("\n").includes("evil.example"),
    "no client-supplied host reached the backend",
  );
  assert.deepEqual(headerValues(raw, "host"), [HOST]);
  assert.deepEqual(headerValues(raw, "x-forwarded-for"), ["127.0.0.1"]);
  assert.deepEqual(headerValues(raw, "x-forwarded-proto"), ["https"]);
  assert.deepEqual(headerValues(raw, "x-forwarded-host"), [HOST]);
  assert.deepEqual(headerValues(raw, "x-forwarded-port"), [String(serve.httpsPort)]);
  assert.deepEqual(headerValues(raw, "forwarded"), [`for=127.0.0.1;proto=https;host=${HOST}`]);
  const [requestId] = headerValues(raw, "x-request-id");
  assert.ok(requestId && requestId !== "spoofed-id", "X-Request-Id is the proxy's own");
  assert.deepEqual(headerValues(raw, "x-end-to-end"), ["kept"], "end-to-end headers pass");
});

test("two serve processes on the same manifests share session tickets and affinity keys; without the shared-keys Secret they share neither", {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const a = main.serve;
  const ca = main.pki.ca.certificatePem;
  const root = await temporaryRoot();
  cleanups.push(() => removeTree(root));
  // The same manifests, and a copy without the shared-keys Secret (same backends and certificate).
  const unsharedDir = join(root, "unshared");
  await writeManifests(unsharedDir, {
    app1: main.backends.app1.map((b) => b.port),
    app2: main.backends.app2.map((b) => b.port),
    certificate: main.pki.leaf,
    keys: null,
  });
  const [b, c, d] = await Promise.all([
    startServe({ paths: [main.manifestsDir], stateDir: join(root, "b") }),
    startServe({ paths: [unsharedDir], stateDir: join(root, "c") }),
    startServe({ paths: [unsharedDir], stateDir: join(root, "d") }),
  ]);
  cleanups.push(async () => {
    await Promise.all([b.stop(), c.stop(), d.stop()]);
  });
  assert.match(
    c.output(),
    /Generated session-ticket and affinity keys/,
    "C says it generated keys",
  );

  const resumes = async (
    from: ServeProcess,
    to: ServeProcess,
    version: "TLSv1.3" | "TLSv1.2",
  ): Promise<boolean> => {
    const options = { servername: HOST, ca, minVersion: version, maxVersion: version } as const;
    const issued = await tlsHandshake(from.httpsPort, { ...options, sessionWaitMs: 2000 });
    assert.ok(issued.ok && issued.session, `${version}: no session from the first process`);
    assert.equal(issued.reused, false);
    const resumed = await tlsHandshake(to.httpsPort, { ...options, session: issued.session });
    assert.ok(resumed.ok, `${version}: the second handshake failed`);
    assert.equal(resumed.protocol, version);
    return resumed.reused;
  };
  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    // Several tries, so that different worker pairs of A and B are involved.
    for (let i = 0; i < 3; i++) {
      assert.equal(await resumes(a, b, version), true, `${version}: A's session resumes on B`);
      assert.equal(await resumes(b, a, version), true, `${version}: B's session resumes on A`);
    }
    assert.equal(await resumes(c, c, version), true, `${version}: C resumes its own sessions`);
    assert.equal(
      await resumes(c, d, version),
      false,
      `${version}: C's session does not resume on D`,
    );
  }

  // A cookie issued by A is honoured by B (each request on a new connection: both of B's workers).
  const first = await get({ port: a.httpsPort, path: "/app-1/", ca });
  const cookie = affinityCookie(first.headers);
  assert.ok(cookie);
  for (let i = 0; i < 8; i++) {
    const response = await get({ port: b.httpsPort, path: "/app-1/", ca, headers: { cookie } });
    assert.equal(response.status, 200);
    assert.equal(response.body, first.body, "B sends A's pinned client to the same backend");
    assert.equal(response.headers["set-cookie"], undefined, "B issues no new cookie");
  }
  // Without shared keys, D does not honour C's cookie: it issues its own.
  const fromC = await get({ port: c.httpsPort, path: "/app-1/", ca });
  const cCookie = affinityCookie(fromC.headers);
  assert.ok(cCookie);
  const onD = await get({ port: d.httpsPort, path: "/app-1/", ca, headers: { cookie: cCookie } });
  assert.equal(onD.status, 200);
  const dCookie = affinityCookie(onD.headers);
  assert.ok(dCookie && dCookie !== cCookie, "D re-issues a cookie it cannot verify");
  t.diagnostic("A↔B resumed TLS 1.3 and 1.2 sessions and honoured cookies; C↛D did not");
});

test("a certificate swapped during continuous load: zero failed requests, new handshakes get the new certificate within 5 s", {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const fixture = await ownFixture();
  const { serve, pki, manifestsDir } = fixture;
  const ca = pki.ca.certificatePem;
  const oldPrint = fingerprintOf(pki.leaf.certificatePem);
  const next = await issueWildcard(pki.ca);
  const newPrint = fingerprintOf(next.certificatePem);
  assert.notEqual(newPrint, oldPrint);

  const RATE_PER_SECOND = 200;
  const DURATION_MS = 6000;
  const EDIT_AT_MS = 2000;
  /** Every 5th request opens a new connection and so a new full handshake. */
  const FRESH_EVERY = 5;
  const agents = Array.from({ length: 4 }, () => keepAliveAgent(ca, 4));
  const failures: string[] = [];
  const handshakes: { startedAt: number; print: string | undefined }[] = [];
  const pending: Promise<void>[] = [];
  let editAt = Number.POSITIVE_INFINITY;
  let edit: Promise<void> | undefined;
  const start = Date.now();
  const total = (RATE_PER_SECOND * DURATION_MS) / 1000;
  try {
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE_PER_SECOND;
      const wait = due - Date.now();
      if (wait > 0) await delay(wait);
      if (edit === undefined && Date.now() - start >= EDIT_AT_MS) {
        edit = writeFileAtomically(
          join(manifestsDir, MANIFEST_FILES.tlsSecret),
          tlsSecretYaml(next),
        ).then(() => {
          editAt = Date.now();
        });
      }
      const fresh = i % FRESH_EVERY === 0;
      const startedAt = Date.now();
      pending.push(
        get({
          port: serve.httpsPort,
          path: `/app-${(i % 2) + 1}/load/${i}`,
          ca,
          ...(fresh ? {} : { agent: agents[i % agents.length] }),
        }).then(
          (response) => {
            if (response.status !== 200) failures.push(`#${i}: status ${response.status}`);
            if (fresh) handshakes.push({ startedAt, print: response.fingerprint256 });
          },
          (error: Error) => {
            failures.push(`#${i}: ${error.message}`);
          },
        ),
      );
    }
    await Promise.all(pending);
    await edit;
    // A few more new handshakes after the load, so that the last word is after the swap.
    for (let i = 0; i < 10; i++) {
      const startedAt = Date.now();
      const response = await get({ port: serve.httpsPort, path: "/app-1/after", ca });
      handshakes.push({ startedAt, print: response.fingerprint256 });
    }
  } finally {
    for (const agent of agents) agent.destroy();
  }

  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${total} requests failed`);
  assert.ok(Number.isFinite(editAt), "the TLS Secret was rewritten");
  handshakes.sort((x, y) => x.startedAt - y.startedAt);
  const unknown = handshakes.filter((h) => h.print !== oldPrint && h.print !== newPrint);
  assert.deepEqual(unknown, [], "every handshake presented the old or the new certificate");
  // The switch: the first handshake from which on every handshake presented the new certificate.
  let switchIndex = handshakes.length;
  while (switchIndex > 0 && handshakes[switchIndex - 1]?.print === newPrint) switchIndex--;
  const switched = handshakes[switchIndex];
  assert.ok(switched, "new handshakes present the new certificate");
  const switchMs = switched.startedAt - editAt;
  t.diagnostic(
    `${total} requests, ${handshakes.length} new handshakes, 0 failed; new certificate served ${switchMs} ms after the edit`,
  );
  assert.ok(switchMs <= 5000, `the new certificate was served ${switchMs} ms after the edit`);
  assert.ok(
    handshakes.length - switchIndex >= 10,
    "enough handshakes after the switch to cover both workers",
  );
  assert.ok(
    handshakes.some((h) => h.startedAt < editAt && h.print === oldPrint),
    "the old certificate was served before the edit",
  );
});

test("an edit to the manifests takes effect without a restart: a new endpoint, then a new path; a broken edit changes nothing", {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const fixture = await ownFixture();
  const { serve, pki, manifestsDir, backends } = fixture;
  const ca = pki.ca.certificatePem;
  const workersBefore = await serve.workerPids();
  const versionBefore = (await appliedConfig(serve)).version;
  const third = await startNamedBackend("app-1-c");
  cleanups.push(() => third.close());
  // Each poll on a new connection, so that whichever worker process takes it must have the change.
  let editAt = Date.now();
  await writeFileAtomically(
    join(manifestsDir, MANIFEST_FILES.endpointSlices),
    endpointSlicesYaml(
      [...backends.app1.map((b) => b.port), third.port],
      backends.app2.map((b) => b.port),
    ),
  );
  const reached = await pollUntil(
    async () => {
      const response = await get({ port: serve.httpsPort, path: "/app-1/", ca });
      return response.body === "app-1-c" ? Date.now() : undefined;
    },
    10_000,
    20,
  );
  assert.ok(reached, "the new endpoint took no traffic within 10 s of the edit");
  t.diagnostic(`new endpoint served ${reached - editAt} ms after the EndpointSlice edit`);

  const before = await get({ port: serve.httpsPort, path: "/shop-3/", ca });
  assert.equal(before.status, 404);
  editAt = Date.now();
  await writeFileAtomically(
    join(manifestsDir, MANIFEST_FILES.ingress),
    ingressYaml([
      { path: "/app-1", service: "app-1" },
      { path: "/app-2", service: "app-2" },
      { path: "/shop-3", service: "app-2" },
    ]),
  );
  const routed = await pollUntil(
    async () => {
      const response = await get({ port: serve.httpsPort, path: "/shop-3/", ca });
      return response.status === 200 && response.body.startsWith("app-2-") ? Date.now() : undefined;
    },
    10_000,
    20,
  );
  assert.ok(routed, "the new path was not served within 10 s of the edit");
  t.diagnostic(`new path served ${routed - editAt} ms after the Ingress edit`);
  // Both workers have it a moment later (each applies the config file itself).
  const settled = await pollUntil(
    async () => {
      for (let i = 0; i < 10; i++) {
        const response = await get({ port: serve.httpsPort, path: "/shop-3/", ca });
        if (response.status !== 200) return undefined;
      }
      return true;
    },
    5000,
    100,
  );
  assert.ok(settled, "ten new connections in a row are routed by the new path");

  // A broken edit (a YAML typo, a half-saved file) leaves the last good config in service.
  const appliedBefore = (await appliedConfig(serve)).version;
  await writeFileAtomically(
    join(manifestsDir, MANIFEST_FILES.ingress),
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shop\n",
  );
  const refused = await pollUntil(
    async () => (serve.output().includes("still serving the last config") ? true : undefined),
    10_000,
  );
  assert.ok(refused, `serve did not report the broken manifest:\n${serve.output().slice(-2000)}`);
  assert.equal((await appliedConfig(serve)).version, appliedBefore, "the config file is unchanged");
  for (const path of ["/app-1/", "/shop-3/"]) {
    const response = await get({ port: serve.httpsPort, path, ca });
    assert.equal(response.status, 200, `${path} after the broken edit`);
  }
  assert.deepEqual(await serve.workerPids(), workersBefore, "the same worker processes serve");
  assert.equal(serve.child.exitCode, null, "serve is still running");
  assert.notEqual((await appliedConfig(serve)).version, versionBefore);
});

test("drain: on SIGTERM /readyz turns 503, the in-flight request completes 200, the process exits 0 before its deadline", {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const DRAIN_SECONDS = 10;
  const fixture = await ownFixture({ drainSeconds: DRAIN_SECONDS });
  const { serve, pki, backends } = fixture;
  let answeredAt = Number.POSITIVE_INFINITY;
  const slow = get({
    port: serve.httpsPort,
    path: "/app-1/slow?delay=2000",
    ca: pki.ca.certificatePem,
  }).then((response) => {
    answeredAt = Date.now();
    return response;
  });
  const arrived = await pollUntil(
    async () =>
      backends.app1.some((b) => b.requests.some((r) => r.url.includes("delay=")))
        ? true
        : undefined,
    5000,
    10,
  );
  assert.ok(arrived, "the slow request reached a backend");
  const signalledAt = Date.now();
  serve.child.kill("SIGTERM");
  // The admin port stays open until the drain ends; poll it (generously) until it reports 503.
  const notReady = await pollUntil(
    async () => {
      const status = await adminGet(serve.adminPort, "/readyz").then(
        (r) => r.status,
        () => 0,
      );
      return status === 503 ? Date.now() : undefined;
    },
    5000,
    20,
  );
  assert.ok(notReady, "/readyz did not turn 503");
  const response = await slow;
  assert.ok(notReady < answeredAt, "/readyz turned 503 while the request was still in flight");
  assert.equal(response.status, 200);
  assert.ok(response.body.startsWith("app-1-"));
  assert.equal(response.headers.connection, "close", "a draining HTTP/1 connection is closed");
  const exit = await within(serve.exited, (DRAIN_SECONDS + 5) * 1000);
  assert.ok(exit, "serve did not exit");
  const exitedAfter = Date.now() - signalledAt;
  t.diagnostic(
    `readyz 503 after ${notReady - signalledAt} ms; exited ${exitedAfter} ms after SIGTERM`,
  );
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(exitedAfter < DRAIN_SECONDS * 1000, `exited ${exitedAfter} ms after SIGTERM`);
});

test("admin: /metrics counts full and resumed handshakes, requests by route, affinity events; /config shows the version `portcullis compile` computes", async () => {
  const { serve, pki, manifestsDir } = main;
  const ca = pki.ca.certificatePem;
  const scrape = async (): Promise<string> => {
    const response = await adminGet(serve.adminPort, "/metrics");
    assert.equal(response.status, 200);
    return response.body;
  };
  const zero = (n: number): number => (Number.isNaN(n) ? 0 : n);
  const value = (text: string, name: string, labels: Record<string, string>): number =>
    zero(metricValue(text, name, labels));

  let before = await scrape();
  const handshakes = "portcullis_tls_handshakes_total";
  const counted = (text: string, kind: "full" | "resumed"): number =>
    value(text, handshakes, { kind }) - value(before, handshakes, { kind });
  // Both connections stay open until the server has counted them: a client that hangs up the moment
  // its handshake completes may reset the connection before the server has processed its Finished.
  const full = await tlsHandshake(serve.httpsPort, {
    servername: HOST,
    ca,
    sessionWaitMs: 2000,
    keepOpen: true,
  });
  assert.ok(full.ok && full.session);
  const resumed = await tlsHandshake(serve.httpsPort, {
    servername: HOST,
    ca,
    session: full.session,
    keepOpen: true,
  });
  let now: string;
  try {
    assert.ok(resumed.ok && resumed.reused);
    now =
      (await pollUntil(async () => {
        const text = await scrape();
        return counted(text, "full") >= 1 && counted(text, "resumed") >= 1 ? text : undefined;
      }, 5000)) ?? (await scrape());
  } finally {
    full.socket.destroy();
    if (resumed.ok) resumed.socket.destroy();
  }
  assert.equal(counted(now, "full"), 1, "one full handshake");
  assert.equal(counted(now, "resumed"), 1, "one resumed handshake");

  before = now;
  const agent = keepAliveAgent(ca);
  try {
    const first = await get({ port: serve.httpsPort, path: "/app-1/", ca, agent });
    const cookie = affinityCookie(first.headers);
    assert.ok(cookie);
    for (let i = 0; i < 3; i++) {
      await get({ port: serve.httpsPort, path: "/app-1/", ca, agent, headers: { cookie } });
    }
    await get({
      port: serve.httpsPort,
      path: "/app-1/",
      ca,
      agent,
      headers: { cookie: `${cookie}x` },
    });
    for (let i = 0; i < 2; i++) await get({ port: serve.httpsPort, path: "/app-2/", ca, agent });
  } finally {
    agent.destroy();
  }
  now = await scrape();
  const requests = "portcullis_requests_total";
  const delta = (name: string, labels: Record<string, string>): number =>
    value(now, name, labels) - value(before, name, labels);
  // By route: the label is the route's source in the config (docs/metrics.md).
  const routes = (await appliedConfig(serve)).virtualHosts.find((v) => v.host === HOST)?.routes;
  const sourceOf = (path: string): string => {
    const source = routes?.find((r) => r.path === path)?.source;
    assert.ok(source, `no route for ${path} in the applied config`);
    return source;
  };
  const [route1, route2] = [sourceOf("/app-1"), sourceOf("/app-2")];
  assert.equal(delta(requests, { route: route1, cluster: APP_1, code: "200" }), 5);
  assert.equal(delta(requests, { route: route2, cluster: APP_2, code: "200" }), 2);
  const durations = "portcullis_request_duration_seconds_count";
  assert.equal(delta(durations, { route: route1 }), 5);
  assert.equal(delta(durations, { route: route2 }), 2);
  const events = "portcullis_affinity_events_total";
  assert.equal(delta(events, { cluster: APP_1, event: "new" }), 1);
  assert.equal(delta(events, { cluster: APP_1, event: "hit" }), 3);
  assert.equal(delta(events, { cluster: APP_1, event: "invalid" }), 1);
  assert.equal(delta(events, { cluster: APP_2, event: "new" }), 2);

  const health = await adminGet(serve.adminPort, "/healthz");
  assert.equal(health.status, 200);
  const view = JSON.parse((await adminGet(serve.adminPort, "/config")).body) as { version: string };
  const { stdout } = await promisify(execFile)(NODE, [
    PORTCULLIS,
    "compile",
    manifestsDir,
    "--secrets-dir",
    join(serve.stateDir, "secrets"),
  ]);
  const compiled = JSON.parse(stdout) as ProxyConfig;
  assert.equal(view.version, compiled.version, "/config shows the version compile computes");
  assert.equal(metricValue(now, "portcullis_config_info", { version: compiled.version }), 1);
});
