// The TLS listener as a scanner sees it: Debian's sslscan (apt-get install sslscan) against
// `portcullis serve` with an ECDSA and with an RSA certificate. Only TLS 1.2 and 1.3; every suite
// with forward secrecy (ECDHE, or TLS 1.3); no CBC and no SHA-1 MAC; renegotiation refused (while the
// RFC 5746 secure-renegotiation extension is still sent); no known vulnerability reported (Heartbleed,
// compression, fallback SCSV). Renegotiation and RFC 5746 are also checked with Node and openssl.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { HOST, type HostileFixture, startHostileFixture } from "./support.ts";

const run = promisify(execFile);

function installed(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const hasSslscan = installed("sslscan");
if (!hasSslscan && process.env.CI)
  throw new Error("sslscan is not installed (apt-get install sslscan)");
const skipScan = hasSslscan ? false : "sslscan is not installed (apt-get install sslscan)";

/** What sslscan's XML report says, reduced to what we assert. */
interface Scan {
  protocols: Map<string, boolean>;
  ciphers: Array<{ version: string; name: string; bits: number }>;
  groups: Array<{ version: string; name: string; bits: number }>;
  renegotiation: { supported: boolean; secure: boolean };
  heartbleedVulnerable: boolean[];
  compressionSupported: boolean | null;
  text: string;
}

function attributes(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/(\w[\w-]*)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

async function sslscan(port: number): Promise<Scan> {
  const target = `127.0.0.1:${port}`;
  const common = ["--no-colour", `--sni-name=${HOST}`];
  const [{ stdout: xml }, { stdout: text }] = await Promise.all([
    run("sslscan", [...common, "--xml=-", target], { timeout: 40_000 }),
    run("sslscan", [...common, target], { timeout: 40_000 }),
  ]);
  const tags = (name: string) =>
    [...xml.matchAll(new RegExp(`<${name}\\s[^>]*>`, "g"))].map((m) => attributes(m[0]));
  const renegotiation = tags("renegotiation")[0] ?? {};
  const compression = tags("compression")[0];
  return {
    protocols: new Map(
      tags("protocol").map((p) => [`${p.type}${p.version}`, p.enabled === "1"] as const),
    ),
    ciphers: tags("cipher").map((c) => ({
      version: c.sslversion ?? "",
      name: c.cipher ?? "",
      bits: Number(c.bits),
    })),
    groups: tags("group").map((g) => ({
      version: g.sslversion ?? "",
      name: g.name ?? "",
      bits: Number(g.bits),
    })),
    renegotiation: {
      supported: renegotiation.supported === "1",
      secure: renegotiation.secure === "1",
    },
    heartbleedVulnerable: tags("heartbleed").map((h) => h.vulnerable === "1"),
    compressionSupported: compression ? compression.supported === "1" : null,
    text,
  };
}

for (const keyType of ["ecdsa-p256", "rsa-2048"] as const) {
  describe(`TLS listener with an ${keyType} certificate`, () => {
    let fixture: HostileFixture;
    before(
      async () => {
        fixture = await startHostileFixture({ keyType });
      },
      { timeout: 60_000 },
    );
    after(() => fixture?.close(), { timeout: 30_000 });

    test("sslscan: TLS 1.2 and 1.3 only, forward secrecy, no CBC or SHA-1, no renegotiation, nothing vulnerable", {
      skip: skipScan,
      timeout: 60_000,
    }, async (t) => {
      const scan = await sslscan(fixture.port);
      t.diagnostic(
        `accepted: ${scan.ciphers.map((c) => `${c.version} ${c.name}`).join(", ")}; groups: ${[...new Set(scan.groups.map((g) => g.name))].join(", ")}; renegotiation supported=${scan.renegotiation.supported}`,
      );
      assert.deepEqual(Object.fromEntries(scan.protocols), {
        ssl2: false,
        ssl3: false,
        "tls1.0": false,
        "tls1.1": false,
        "tls1.2": true,
        "tls1.3": true,
      });
      assert.ok(scan.ciphers.length > 0, "sslscan found the accepted suites");
      for (const { version, name, bits } of scan.ciphers) {
        assert.ok(version === "TLSv1.2" || version === "TLSv1.3", `${name} on ${version}`);
        // TLS 1.3 suites always use (EC)DHE; a TLS 1.2 suite must say so.
        if (version === "TLSv1.2") assert.match(name, /^ECDHE-/, `${name}: no forward secrecy`);
        assert.doesNotMatch(name, /CBC|-SHA$|RC4|3DES|DES-|NULL|EXPORT|anon|PSK|SRP/i, name);
        // AEAD only: GCM or ChaCha20-Poly1305 (AES-CCM would be acceptable, but is not offered).
        assert.match(name, /GCM|CHACHA20/, `${name} is not AEAD`);
        assert.ok(bits >= 128, `${name}: ${bits} bits`);
      }
      for (const group of scan.groups)
        assert.ok(group.bits >= 128, `${group.name}: ${group.bits} bits`);
      assert.equal(scan.renegotiation.supported, false, "renegotiation is refused");
      assert.ok(scan.heartbleedVulnerable.length > 0, "the Heartbleed check ran");
      assert.ok(
        scan.heartbleedVulnerable.every((v) => !v),
        "not vulnerable to Heartbleed",
      );
      assert.notEqual(scan.compressionSupported, true, "no TLS compression (CRIME)");
      assert.match(scan.text, /Server supports TLS Fallback SCSV/);
      assert.doesNotMatch(
        scan.text,
        /^\S+ vulnerable to heartbleed|Insecure session renegotiation/im,
      );
      assert.match(scan.text, /Session renegotiation not supported/);
    });

    test("TLS 1.2: a client-initiated renegotiation is refused; RFC 5746 secure renegotiation is advertised", async (t) => {
      const socket: TLSSocket = tlsConnect({
        host: "127.0.0.1",
        port: fixture.port,
        servername: HOST,
        ca: fixture.ca,
        maxVersion: "TLSv1.2",
        ALPNProtocols: ["http/1.1"],
      });
      socket.on("error", () => {});
      await new Promise<void>((resolve, reject) => {
        socket.once("secureConnect", resolve);
        socket.once("error", reject);
      });
      assert.equal(socket.getProtocol(), "TLSv1.2");
      const outcome = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve("no answer"), 5000);
        const started = socket.renegotiate({ rejectUnauthorized: true }, (error) => {
          clearTimeout(timer);
          resolve(error ? `refused: ${error.message}` : "renegotiated");
        });
        if (!started) resolve("not started by the client");
        socket.once("close", () => resolve("refused: connection closed"));
        // The renegotiation handshake is driven by I/O.
        socket.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
      });
      socket.destroy();
      t.diagnostic(`renegotiation: ${outcome}`);
      assert.match(outcome, /^refused: /, outcome);

      if (installed("openssl")) {
        const { stdout } = await run(
          "sh",
          [
            "-c",
            `echo | openssl s_client -connect 127.0.0.1:${fixture.port} -servername ${HOST} -tls1_2 2>&1`,
          ],
          { timeout: 10_000 },
        ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
        assert.match(stdout, /Secure Renegotiation IS supported/);
      }
    });
  });
}
