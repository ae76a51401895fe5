// The HTTPS listener over real sockets and real TLS: versions, ciphers, ALPN, SNI, hot reload,
// renegotiation, the certificate a request was served, and draining.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import { servedCertificateOf } from "./served-certificate.ts";
import {
  certificateEntry,
  eventually,
  proxyConfig,
  temporaryDirectory,
  tlsHost,
  writeSecretVolume,
} from "./testing/fixtures.ts";
import { type RunningListener, startListener } from "./testing/harness.ts";
import { tlsHandshake } from "./testing/tls-client.ts";

let ca: CertificateAuthority;
let root: string;
const running: RunningListener[] = [];

before(async () => {
  ca = await createCertificateAuthority();
  root = await temporaryDirectory();
});

after(async () => {
  await Promise.all(running.map((r) => r.stop()));
});

async function volume(name: string, dnsNames: string[]): Promise<string> {
  const directory = join(root, name);
  const leaf = await issueCertificate(ca, { dnsNames });
  await writeSecretVolume(directory, { chainPem: leaf.chainPem, keyPem: leaf.keyPem });
  return directory;
}

async function start(options: Parameters<typeof startListener>[0]): Promise<RunningListener> {
  const started = await startListener(options);
  running.push(started);
  return started;
}

/** One listener with a wildcard and an exact certificate, rejecting unknown names. */
async function standardListener(
  extra: Partial<Parameters<typeof proxyConfig>[0]> = {},
): Promise<RunningListener> {
  const wild = await volume(`wild-${running.length}`, ["*.example.com"]);
  const exact = await volume(`exact-${running.length}`, ["shop.example.com"]);
  return start({
    config: proxyConfig({
      certificates: [certificateEntry("ns/wild", wild), certificateEntry("ns/exact", exact)],
      virtualHosts: [tlsHost("shop.example.com", "ns/exact"), tlsHost("*.example.com", "ns/wild")],
      ...extra,
    }),
  });
}

describe("protocol versions and ciphers", () => {
  let server: RunningListener;
  before(async () => {
    server = await standardListener();
  });

  test("TLS 1.0 and 1.1 are refused with a protocol_version alert", async () => {
    for (const version of ["TLSv1", "TLSv1.1"] as const) {
      const result = await tlsHandshake(server.port, {
        servername: "shop.example.com",
        ca: ca.certificatePem,
        minVersion: version,
        maxVersion: version,
        // OpenSSL 3 clients refuse old versions at security level 1; level 0 lets them try.
        ciphers: "DEFAULT:@SECLEVEL=0",
      });
      assert.equal(result.ok, false, version);
      // Alert 70 comes from the server: the client did offer the old version.
      if (!result.ok) assert.match(result.error.message, /alert number 70/, version);
    }
  });

  test("TLS 1.2 and 1.3 are accepted with AEAD suites", async () => {
    const tls12 = await tlsHandshake(server.port, {
      servername: "shop.example.com",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
    });
    assert.ok(tls12.ok);
    assert.equal(tls12.protocol, "TLSv1.2");
    assert.match(tls12.cipher, /^ECDHE-ECDSA-(AES128-GCM|AES256-GCM|CHACHA20-POLY1305)/);
    const tls13 = await tlsHandshake(server.port, {
      servername: "shop.example.com",
      ca: ca.certificatePem,
    });
    assert.ok(tls13.ok);
    assert.equal(tls13.protocol, "TLSv1.3");
    assert.match(tls13.cipher, /^TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)/);
  });

  test("a CBC suite cannot be negotiated", async () => {
    for (const cipher of [
      "ECDHE-ECDSA-AES128-SHA256",
      "ECDHE-ECDSA-AES128-SHA",
      "ECDHE-ECDSA-AES256-SHA384",
    ]) {
      const result = await tlsHandshake(server.port, {
        servername: "shop.example.com",
        ca: ca.certificatePem,
        maxVersion: "TLSv1.2",
        ciphers: cipher,
      });
      assert.equal(result.ok, false, cipher);
      if (!result.ok) assert.match(result.error.message, /handshake failure/, cipher);
    }
  });

  test("a suite outside the host's list cannot be negotiated, one inside can", async () => {
    const directory = await volume("strict", ["strict.test"]);
    const strict = await start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/strict", directory)],
        virtualHosts: [
          tlsHost("strict.test", "ns/strict", {
            ciphers:
              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
          }),
        ],
      }),
    });
    const chacha = await tlsHandshake(strict.port, {
      servername: "strict.test",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305",
    });
    assert.equal(chacha.ok, false);
    const gcm = await tlsHandshake(strict.port, {
      servername: "strict.test",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384",
    });
    assert.ok(gcm.ok);
    assert.equal(gcm.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
  });

  test("the server's cipher order wins over the client's", async () => {
    const result = await tlsHandshake(server.port, {
      servername: "shop.example.com",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256",
    });
    assert.ok(result.ok);
    assert.equal(result.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
  });

  test("TLS 1.2 renegotiation is refused", async () => {
    const result = await tlsHandshake(server.port, {
      servername: "shop.example.com",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
      keepOpen: true,
    });
    assert.ok(result.ok);
    const outcome = await new Promise<string>((resolve) => {
      result.socket.on("error", (error) => resolve(error.message));
      result.socket.on("close", () => resolve("closed"));
      result.socket.renegotiate({}, (error) => resolve(error ? error.message : "renegotiated"));
    });
    result.socket.destroy();
    assert.match(outcome, /no renegotiation/);
  });
});

describe("ALPN and requests", () => {
  let server: RunningListener;
  before(async () => {
    server = await standardListener();
  });

  test("h2 and http/1.1 are both negotiated, h2 preferred", async () => {
    const both = await tlsHandshake(server.port, {
      servername: "a.example.com",
      ca: ca.certificatePem,
      ALPNProtocols: ["http/1.1", "h2"],
    });
    assert.ok(both.ok);
    assert.equal(both.alpn, "h2");
    const http1 = await tlsHandshake(server.port, {
      servername: "a.example.com",
      ca: ca.certificatePem,
      ALPNProtocols: ["http/1.1"],
    });
    assert.ok(http1.ok);
    assert.equal(http1.alpn, "http/1.1");
  });

  test("an HTTP/2 and an HTTP/1.1 request both reach the handler", async () => {
    const session = http2Connect(`https://127.0.0.1:${server.port}`, {
      ca: ca.certificatePem,
      servername: "a.example.com",
    });
    const stream = session.request({ ":path": "/" });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    await once(stream, "end");
    session.close();
    assert.equal(body, "hello over HTTP/2.0");

    const http1Body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: "127.0.0.1",
          port: server.port,
          servername: "a.example.com",
          ca: ca.certificatePem,
          headers: { host: "a.example.com" },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () => resolve(text));
        },
      );
      req.on("error", reject);
      req.end();
    });
    assert.equal(http1Body, "hello over HTTP/1.1");
  });

  test("HTTP/2 advertises at most 100 concurrent streams", async () => {
    const session = http2Connect(`https://127.0.0.1:${server.port}`, {
      ca: ca.certificatePem,
      servername: "a.example.com",
    });
    await once(session, "remoteSettings");
    assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
    session.close();
  });
});

test("a handler that throws answers 500 and the listener keeps serving", async () => {
  const directory = await volume("throwing", ["throw.test"]);
  const server = await start({
    config: proxyConfig({
      certificates: [certificateEntry("ns/t", directory)],
      virtualHosts: [tlsHost("throw.test", "ns/t")],
    }),
    requestHandler: (request, response) => {
      if (request.url === "/boom") throw new Error("handler bug");
      response.end("fine");
    },
  });
  const session = http2Connect(`https://127.0.0.1:${server.port}`, {
    ca: ca.certificatePem,
    servername: "throw.test",
  });
  const get = async (path: string): Promise<[number, string]> => {
    const stream = session.request({ ":path": path, ":authority": "throw.test" });
    const [headers] = (await once(stream, "response")) as [Record<string, unknown>];
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    await once(stream, "end");
    return [Number(headers[":status"]), body];
  };
  assert.deepEqual(await get("/boom"), [500, ""]);
  assert.deepEqual(await get("/ok"), [200, "fine"]);
  session.close();
  assert.match(server.logger.at("error")[0]?.message ?? "", /Request handler failed/);
});

test("an HTTP/2 request body that does not arrive within requestTimeoutMs gets 408 and its stream reset; a whole one is answered", async () => {
  const directory = await volume("deadline", ["*.example.com"]);
  const server = await start({
    config: proxyConfig({
      certificates: [certificateEntry("ns/d", directory)],
      virtualHosts: [tlsHost("*.example.com", "ns/d")],
    }),
    limits: { requestTimeoutMs: 600, headersTimeoutMs: 600 },
    // Reads the body and answers with its length once it ends, as the proxy forwards it.
    requestHandler: (request, response) => {
      let bytes = 0;
      request.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      request.on("end", () => response.end(`got ${bytes}`));
    },
  });
  const session = http2Connect(`https://127.0.0.1:${server.port}`, {
    ca: ca.certificatePem,
    servername: "a.example.com",
  });
  try {
    const exchange = async (finish: boolean) => {
      const started = Date.now();
      const stream = session.request({ ":path": "/upload", ":method": "POST" });
      stream.write("first part");
      // Within the deadline, and again after it would have expired had the clock not stopped.
      if (finish) setTimeout(() => stream.end(" and the rest"), 200);
      const [headers] = (await once(stream, "response")) as [Record<string, unknown>];
      let body = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      await once(stream, "close");
      return { status: headers[":status"], body, ms: Date.now() - started, code: stream.rstCode };
    };
    const whole = await exchange(true);
    assert.equal(whole.status, 200);
    assert.equal(whole.body, "got 23");
    const trickled = await exchange(false);
    assert.equal(trickled.status, 408);
    assert.equal(trickled.body, "Request timed out.\n");
    assert.ok(trickled.ms >= 550 && trickled.ms < 3000, `${trickled.ms} ms`);
    // The session outlives its timed-out stream.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const again = await exchange(true);
    assert.equal(again.status, 200);
  } finally {
    session.close();
  }
});

describe("SNI", () => {
  test("an exact host beats a wildcard; a wildcard covers one label only", async () => {
    const server = await standardListener();
    const exact = await tlsHandshake(server.port, {
      servername: "shop.example.com",
      ca: ca.certificatePem,
    });
    assert.ok(exact.ok);
    assert.equal(exact.dnsNames, "DNS:shop.example.com");
    const upper = await tlsHandshake(server.port, {
      servername: "SHOP.Example.COM",
      ca: ca.certificatePem,
      checkServerIdentity: () => undefined,
    });
    assert.ok(upper.ok);
    assert.equal(upper.dnsNames, "DNS:shop.example.com");
    const wild = await tlsHandshake(server.port, {
      servername: "cart.example.com",
      ca: ca.certificatePem,
    });
    assert.ok(wild.ok);
    assert.equal(wild.dnsNames, "DNS:*.example.com");
    const deep = await tlsHandshake(server.port, {
      servername: "a.b.example.com",
      ca: ca.certificatePem,
    });
    assert.equal(deep.ok, false);
  });

  for (const readsClientHello of [false, true]) {
    const mode = readsClientHello
      ? "listener reads the ClientHello"
      : "TLS server listens directly";
    test(`unknown SNI gets the default certificate or an alert, by config (${mode})`, async () => {
      const fallbackDir = await volume(`fallback-${readsClientHello}`, ["fallback.test"]);
      const hostDir = await volume(`host-${readsClientHello}`, ["known.test"]);
      // A second profile (TLS 1.3 only) makes the listener read ClientHellos.
      const extraHosts = readsClientHello
        ? [tlsHost("modern.test", "ns/host", { minVersion: "TLSv1.3" })]
        : [];
      const base = {
        certificates: [
          certificateEntry("ns/fallback", fallbackDir),
          certificateEntry("ns/host", hostDir),
        ],
        virtualHosts: [tlsHost("known.test", "ns/host"), ...extraHosts],
      };
      const withDefault = await start({
        config: proxyConfig({ ...base, defaultCertificate: "ns/fallback" }),
      });
      assert.equal(withDefault.listener.readsClientHello, readsClientHello);
      const unknown = await tlsHandshake(withDefault.port, {
        servername: "nope.test",
        ca: ca.certificatePem,
        checkServerIdentity: () => undefined,
      });
      assert.ok(unknown.ok);
      assert.equal(unknown.dnsNames, "DNS:fallback.test");
      const absent = await tlsHandshake(withDefault.port, {
        ca: ca.certificatePem,
        checkServerIdentity: () => undefined,
      });
      assert.ok(absent.ok, "no SNI at all gets the default certificate too");
      assert.equal(absent.dnsNames, "DNS:fallback.test");

      const rejecting = await start({
        config: proxyConfig({ ...base, unknownServerName: "Reject" }),
      });
      const refused = await tlsHandshake(rejecting.port, {
        servername: "nope.test",
        ca: ca.certificatePem,
      });
      assert.equal(refused.ok, false);
      if (!refused.ok) {
        // Reading the hello, the listener answers as RFC 6066 says; Node's SNICallback cannot send
        // that alert, so the TLS server (serving no certificate) answers handshake_failure.
        assert.match(
          refused.error.message,
          readsClientHello ? /alert number 112/ : /alert number 40/,
        );
      }
      const noName = await tlsHandshake(rejecting.port, { ca: ca.certificatePem });
      assert.equal(noName.ok, false);
      if (!noName.ok) assert.match(noName.error.message, /alert number 40/);
      const known = await tlsHandshake(rejecting.port, {
        servername: "known.test",
        ca: ca.certificatePem,
      });
      assert.ok(known.ok, "known names are still served");
    });
  }
});

test('readClientHello "always" refuses unknown names with unrecognized_name on a one-profile config', async () => {
  const directory = await volume("always", ["known.test"]);
  const server = await start({
    config: proxyConfig({
      certificates: [certificateEntry("ns/k", directory)],
      virtualHosts: [tlsHost("known.test", "ns/k")],
    }),
    readClientHello: "always",
  });
  assert.equal(server.listener.readsClientHello, true);
  const refused = await tlsHandshake(server.port, {
    servername: "nope.test",
    ca: ca.certificatePem,
  });
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.match(refused.error.message, /alert number 112/);
  const known = await tlsHandshake(server.port, {
    servername: "known.test",
    ca: ca.certificatePem,
  });
  assert.ok(known.ok);
});

describe("per-host handshake settings", () => {
  test("a TLS 1.3-only host refuses TLS 1.2 while its neighbour accepts it", async () => {
    const directory = await volume("versions", ["modern.test", "legacy.test"]);
    const server = await start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/v", directory)],
        virtualHosts: [
          tlsHost("modern.test", "ns/v", { minVersion: "TLSv1.3" }),
          tlsHost("legacy.test", "ns/v"),
        ],
      }),
    });
    assert.equal(server.listener.readsClientHello, true);
    const refused = await tlsHandshake(server.port, {
      servername: "modern.test",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
    });
    assert.equal(refused.ok, false);
    if (!refused.ok) assert.match(refused.error.message, /alert number 70/);
    const modern = await tlsHandshake(server.port, {
      servername: "modern.test",
      ca: ca.certificatePem,
    });
    assert.ok(modern.ok);
    assert.equal(modern.protocol, "TLSv1.3");
    const legacy = await tlsHandshake(server.port, {
      servername: "legacy.test",
      ca: ca.certificatePem,
      maxVersion: "TLSv1.2",
    });
    assert.ok(legacy.ok);
    assert.equal(legacy.protocol, "TLSv1.2");
  });
});

describe("certificate hot reload", () => {
  test("a Secret swapped on disk is served to new handshakes within 2 s; an open connection keeps working", async () => {
    const directory = await volume("reload", ["reload.test"]);
    const server = await start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/reload", directory)],
        virtualHosts: [tlsHost("reload.test", "ns/reload")],
      }),
    });
    const session = http2Connect(`https://127.0.0.1:${server.port}`, {
      ca: ca.certificatePem,
      servername: "reload.test",
    });
    const get = async (): Promise<string> => {
      const stream = session.request({ ":path": "/", ":authority": "reload.test" });
      let body = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      await once(stream, "end");
      return body;
    };
    assert.equal(await get(), "hello over HTTP/2.0");
    const oldFingerprint = (session.socket as import("node:tls").TLSSocket).getPeerCertificate()
      .fingerprint256;

    const next = await issueCertificate(ca, { dnsNames: ["reload.test", "new.reload.test"] });
    const swappedAt = Date.now();
    await writeSecretVolume(directory, { chainPem: next.chainPem, keyPem: next.keyPem });
    let served = "";
    const reloaded = await eventually(async () => {
      const result = await tlsHandshake(server.port, {
        servername: "reload.test",
        ca: ca.certificatePem,
      });
      served = result.ok ? result.dnsNames : "";
      return served.includes("new.reload.test");
    }, 5000);
    assert.ok(reloaded, `still served ${served}`);
    assert.ok(Date.now() - swappedAt < 2000, `took ${Date.now() - swappedAt} ms`);

    // The connection made before the swap is untouched: same certificate, still answering.
    assert.equal(await get(), "hello over HTTP/2.0");
    assert.equal(
      (session.socket as import("node:tls").TLSSocket).getPeerCertificate().fingerprint256,
      oldFingerprint,
    );
    session.close();

    // A broken update keeps the new certificate in service.
    await writeSecretVolume(directory, { chainPem: "garbage", keyPem: next.keyPem });
    await server.store.checkNow();
    const after = await tlsHandshake(server.port, {
      servername: "reload.test",
      ca: ca.certificatePem,
    });
    assert.ok(after.ok);
    assert.match(after.dnsNames, /new\.reload\.test/);
    assert.equal(server.metrics.reloads.filter((r) => r.outcome === "error").length, 1);
  });
});

describe("the certificate a request was served", () => {
  /** Starts a listener whose handler reports what servedCertificateOf says about each request. */
  async function reporting(
    extraHosts: ReturnType<typeof tlsHost>[] = [],
  ): Promise<RunningListener> {
    const wild = await volume(`served-${running.length}`, ["*.example.com"]);
    return start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/wild", wild)],
        virtualHosts: [tlsHost("*.example.com", "ns/wild"), ...extraHosts],
      }),
      requestHandler: (request, response) => {
        const served = servedCertificateOf(request.socket);
        const authority =
          (request.headers[":authority"] ?? request.headers.host ?? "").toString().split(":")[0] ??
          "";
        response.end(
          JSON.stringify({
            name: served?.name ?? null,
            covers: served ? served.covers(authority) : null,
          }),
        );
      },
    });
  }

  test("over HTTP/2 a coalesced request for another host learns whether the certificate covers it", async () => {
    const server = await reporting();
    const session = http2Connect(`https://127.0.0.1:${server.port}`, {
      ca: ca.certificatePem,
      servername: "a.example.com",
    });
    const ask = async (
      authority: string,
    ): Promise<{ name: string | null; covers: boolean | null }> => {
      const stream = session.request({ ":path": "/", ":authority": authority });
      let body = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      await once(stream, "end");
      return JSON.parse(body) as { name: string | null; covers: boolean | null };
    };
    assert.deepEqual(await ask("a.example.com"), { name: "ns/wild", covers: true });
    assert.deepEqual(await ask("b.example.com"), { name: "ns/wild", covers: true });
    assert.deepEqual(await ask("other.test"), { name: "ns/wild", covers: false });
    session.close();
  });

  for (const readsClientHello of [false, true]) {
    test(`a resumed TLS 1.2 connection knows its certificate only if the listener read the hello (${readsClientHello})`, async () => {
      const extra = readsClientHello
        ? [tlsHost("strict.example.com", "ns/wild", { minVersion: "TLSv1.3" })]
        : [];
      const server = await reporting(extra);
      assert.equal(server.listener.readsClientHello, readsClientHello);
      const requestOver = async (
        session?: Buffer,
      ): Promise<{ body: string; reused: boolean; next: Buffer | undefined }> => {
        const connected = await tlsHandshake(server.port, {
          servername: "a.example.com",
          ca: ca.certificatePem,
          maxVersion: "TLSv1.2",
          keepOpen: true,
          ...(session ? { session } : {}),
        });
        assert.ok(connected.ok);
        connected.socket.write(
          "GET / HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n",
        );
        let raw = "";
        connected.socket.setEncoding("utf8");
        connected.socket.on("data", (chunk: string) => {
          raw += chunk;
        });
        await once(connected.socket, "close");
        return {
          body: raw.slice(raw.indexOf("\r\n\r\n") + 4),
          reused: connected.reused,
          next: connected.session,
        };
      };
      const first = await requestOver();
      assert.deepEqual(JSON.parse(first.body), { name: "ns/wild", covers: true });
      const resumed = await requestOver(first.next);
      assert.equal(resumed.reused, true);
      assert.deepEqual(
        JSON.parse(resumed.body),
        readsClientHello ? { name: "ns/wild", covers: true } : { name: null, covers: null },
      );
    });
  }
});

describe("draining", () => {
  test("HTTP/2 gets GOAWAY and finishes its stream, HTTP/1 idle connections close, close() resolves", async () => {
    let release: (() => void) | undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const directory = await volume("drain", ["drain.test"]);
    const server = await start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/d", directory)],
        virtualHosts: [tlsHost("drain.test", "ns/d")],
      }),
      requestHandler: (request, response) => {
        if (request.url === "/slow") void held.then(() => response.end("finished"));
        else response.end("quick");
      },
    });
    const session = http2Connect(`https://127.0.0.1:${server.port}`, {
      ca: ca.certificatePem,
      servername: "drain.test",
    });
    const goaway = once(session, "goaway");
    const stream = session.request({ ":path": "/slow", ":authority": "drain.test" });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });

    const idle = await tlsHandshake(server.port, {
      servername: "drain.test",
      ca: ca.certificatePem,
      ALPNProtocols: ["http/1.1"],
      keepOpen: true,
    });
    assert.ok(idle.ok);
    const idleClosed = once(idle.socket, "close");
    // Both connections handshaken on the server side (its Finished may trail the client's).
    assert.ok(await eventually(() => server.metrics.handshakes.full === 2, 2000));

    const closing = server.listener.close(Date.now() + 10_000);
    await goaway;
    await idleClosed;
    release?.();
    await once(stream, "end");
    assert.equal(body, "finished");
    await closing;
    assert.equal(server.listener.connectionCount, 0);
    session.destroy();
  });

  test("connections still open at the deadline are destroyed", async () => {
    const directory = await volume("deadline", ["deadline.test"]);
    const server = await start({
      config: proxyConfig({
        certificates: [certificateEntry("ns/d", directory)],
        virtualHosts: [tlsHost("deadline.test", "ns/d")],
      }),
      requestHandler: () => {
        // Never answers.
      },
    });
    const connected = await tlsHandshake(server.port, {
      servername: "deadline.test",
      ca: ca.certificatePem,
      ALPNProtocols: ["http/1.1"],
      keepOpen: true,
    });
    assert.ok(connected.ok);
    connected.socket.write("GET / HTTP/1.1\r\nHost: deadline.test\r\n\r\n");
    const closed = once(connected.socket, "close");
    const started = Date.now();
    await server.listener.close(Date.now() + 300);
    await closed;
    assert.ok(Date.now() - started >= 250, "waited for the deadline");
    assert.equal(server.listener.connectionCount, 0);
  });
});
