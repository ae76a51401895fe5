import assert from "node:assert/strict";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { format, inspect } from "node:util";
import type { V1Secret } from "@kubernetes/client-node";
import { parse } from "yaml";
import { SecretBytes } from "../../proxy/config/secret-bytes.ts";
import {
  buildCaSecret,
  buildTlsSecret,
  createCertificateAuthority,
  issueCertificate,
} from "../../test/support/pki.ts";
import {
  type CertificateProblem,
  hostCovered,
  inspectCaSecret,
  inspectTlsSecret,
} from "./certificates.ts";
import { Reason } from "./reasons.ts";

const NOW = new Date("2026-01-01T00:00:00Z");
const FROM = new Date("2025-01-01T00:00:00Z");
const UNTIL = new Date("2125-01-01T00:00:00Z");
const id = { namespace: "default", name: "example" };

const ca = await createCertificateAuthority();
const rsaCa = await createCertificateAuthority({ keyType: "rsa-2048" });
const wildcard = await issueCertificate(ca, {
  dnsNames: ["example.com", "*.Example.com", "EXAMPLE.com"],
  notBefore: FROM,
  notAfter: UNTIL,
});
const rsa = await issueCertificate(rsaCa, {
  dnsNames: ["app.example.com"],
  keyType: "rsa-2048",
  notBefore: FROM,
  notAfter: UNTIL,
});
const other = await issueCertificate(ca, {
  dnsNames: ["other.test"],
  notBefore: FROM,
  notAfter: UNTIL,
});
const expired = await issueCertificate(ca, {
  dnsNames: ["example.com"],
  notBefore: new Date("2020-01-01T00:00:00Z"),
  notAfter: new Date("2021-01-01T00:00:00Z"),
});
const future = await issueCertificate(ca, {
  dnsNames: ["example.com"],
  notBefore: new Date("2124-01-01T00:00:00Z"),
  notAfter: new Date("2125-01-01T00:00:00Z"),
});

function tls(certificatePem: string, keyPem: string): V1Secret {
  return buildTlsSecret(id, { certificatePem, keyPem });
}

function problemOf(secret: V1Secret, now = NOW): CertificateProblem {
  const result = inspectTlsSecret(secret, now);
  assert.equal(result.certificate, undefined, "an invalid Secret yields no certificate");
  assert.equal(result.problems.length, 1, JSON.stringify(result.problems));
  return result.problems[0] as CertificateProblem;
}

const GARBAGE_CERT =
  "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";

test("a valid ECDSA Secret yields its leaf: fingerprint, sorted lower-case names, dates", () => {
  const result = inspectTlsSecret(tls(wildcard.chainPem, wildcard.keyPem), NOW);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.certificate, {
    sha256: new X509Certificate(wildcard.certificatePem).fingerprint256,
    dnsNames: ["*.example.com", "example.com"],
    notBefore: FROM,
    notAfter: UNTIL,
  });
  assert.match(result.certificate?.sha256 ?? "", /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test("a valid RSA Secret with a PKCS#1 key is accepted", () => {
  const pkcs1 = createPrivateKey(rsa.keyPem).export({ format: "pem", type: "pkcs1" }).toString();
  assert.match(pkcs1, /BEGIN RSA PRIVATE KEY/);
  for (const keyPem of [rsa.keyPem, pkcs1]) {
    const result = inspectTlsSecret(tls(rsa.chainPem, keyPem), NOW);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.certificate?.dnsNames, ["app.example.com"]);
  }
});

test("a SEC1 EC key is accepted, also after an EC PARAMETERS block", () => {
  const sec1 = createPrivateKey(wildcard.keyPem).export({ format: "pem", type: "sec1" }).toString();
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  const params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
  for (const keyPem of [sec1, params + sec1]) {
    assert.deepEqual(inspectTlsSecret(tls(wildcard.certificatePem, keyPem), NOW).problems, []);
  }
});

test("stringData is read (plain manifests) and named in messages", () => {
  const secret: V1Secret = {
    type: "kubernetes.io/tls",
    stringData: { "tls.crt": wildcard.chainPem, "tls.key": wildcard.keyPem },
  };
  assert.deepEqual(inspectTlsSecret(secret, NOW).problems, []);
  const bad = { ...secret, stringData: { "tls.crt": "nope", "tls.key": wildcard.keyPem } };
  assert.equal(problemOf(bad).field, 'stringData["tls.crt"]');
});

test("a Secret of another type is refused on its type alone", () => {
  const opaque = { ...tls(wildcard.chainPem, wildcard.keyPem), type: "Opaque" };
  const problem = problemOf(opaque);
  assert.equal(problem.reason, Reason.InvalidCertificate);
  assert.equal(problem.field, "type");
  assert.match(problem.message, /"Opaque".*"kubernetes\.io\/tls"/);
  const { type: _, ...untyped } = opaque;
  assert.match(problemOf(untyped).message, /"Opaque"/);
});

test("a missing or empty key is reported on its field", () => {
  const secret = tls(wildcard.chainPem, wildcard.keyPem);
  const { "tls.key": _, ...onlyCrt } = secret.data ?? {};
  const missing = problemOf({ ...secret, data: onlyCrt });
  assert.equal(missing.reason, Reason.InvalidCertificate);
  assert.equal(missing.field, 'data["tls.key"]');
  assert.match(missing.message, /"tls\.key"/);

  const emptyCrt = problemOf({ ...secret, data: { ...secret.data, "tls.crt": "" } });
  assert.equal(emptyCrt.field, 'data["tls.crt"]');
  assert.match(emptyCrt.message, /empty/);

  const both = inspectTlsSecret({ type: "kubernetes.io/tls", data: {} }, NOW);
  assert.deepEqual(
    both.problems.map((p) => p.field),
    ['data["tls.crt"]', 'data["tls.key"]'],
  );
});

test("garbage is InvalidCertificate, whatever its form", () => {
  const key = wildcard.keyPem;
  const cases: Array<[string, V1Secret, string, RegExp]> = [
    ["no PEM", tls("hello", key), 'data["tls.crt"]', /no PEM certificate/],
    ["bad DER", tls(GARBAGE_CERT, key), 'data["tls.crt"]', /block 1 is not a valid X\.509/],
    [
      "bad chain block",
      tls(wildcard.certificatePem + GARBAGE_CERT, key),
      'data["tls.crt"]',
      /block 2 is not a valid X\.509/,
    ],
    [
      "unterminated",
      tls(wildcard.certificatePem.replace(/-----END CERTIFICATE-----\s*$/, ""), key),
      'data["tls.crt"]',
      /malformed PEM block/,
    ],
    ["key in tls.crt", tls(key, key), 'data["tls.crt"]', /"PRIVATE KEY", not a CERTIFICATE/],
    [
      "cert in tls.key",
      tls(wildcard.chainPem, wildcard.chainPem),
      'data["tls.key"]',
      /no PEM private key/,
    ],
    [
      "bad key DER",
      tls(wildcard.chainPem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
      'data["tls.key"]',
      /does not parse/,
    ],
    ["two keys", tls(wildcard.chainPem, key + rsa.keyPem), 'data["tls.key"]', /2 private keys/],
    [
      "encrypted key",
      tls(
        wildcard.chainPem,
        createPrivateKey(key)
          .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: "x" })
          .toString(),
      ),
      'data["tls.key"]',
      /encrypted/,
    ],
    [
      "bad base64",
      { type: "kubernetes.io/tls", data: { "tls.crt": "!!!", "tls.key": "AAAA" } },
      'data["tls.crt"]',
      /base64/,
    ],
  ];
  for (const [name, secret, field, message] of cases) {
    const problems = inspectTlsSecret(secret, NOW).problems;
    const problem = problems.find((p) => p.field === field);
    assert.ok(problem, `${name}: ${JSON.stringify(problems)}`);
    assert.equal(problem.reason, Reason.InvalidCertificate, name);
    assert.match(problem.message, message, name);
    assert.ok(problem.message.includes(field), `${name}: the message names the field`);
  }
});

test("the key of another certificate is a KeyMismatch", () => {
  for (const keyPem of [other.keyPem, rsa.keyPem]) {
    const problem = problemOf(tls(wildcard.chainPem, keyPem));
    assert.equal(problem.reason, Reason.KeyMismatch);
    assert.equal(problem.field, 'data["tls.key"]');
    assert.match(problem.message, /does not match the certificate in data\["tls\.crt"\]/);
  }
});

test("an expired certificate is CertificateExpired, with its end date", () => {
  const problem = problemOf(tls(expired.chainPem, expired.keyPem));
  assert.equal(problem.reason, Reason.CertificateExpired);
  assert.equal(problem.field, 'data["tls.crt"]');
  assert.match(problem.message, /expired at 2021-01-01T00:00:00Z/);
});

test("a certificate not valid yet is CertificateExpired, with its start date", () => {
  const problem = problemOf(tls(future.chainPem, future.keyPem));
  assert.equal(problem.reason, Reason.CertificateExpired);
  assert.match(problem.message, /not valid yet: it is valid from 2124-01-01T00:00:00Z/);
});

test("the validity period includes both of its ends", () => {
  const secret = tls(expired.chainPem, expired.keyPem);
  for (const now of ["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]) {
    assert.deepEqual(inspectTlsSecret(secret, new Date(now)).problems, [], now);
  }
  assert.equal(
    problemOf(secret, new Date("2021-01-01T00:00:01Z")).reason,
    Reason.CertificateExpired,
  );
});

test("a certificate without SANs has no names, whatever its CN", async () => {
  const bare = await issueCertificate(ca, { dnsNames: [], commonName: "example.com" });
  const result = inspectTlsSecret(tls(bare.chainPem, bare.keyPem), new Date());
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.certificate?.dnsNames, []);
});

test("hostCovered: exact names and one-label wildcards", () => {
  const table: Array<[string, string[], boolean]> = [
    // The Kubernetes Ingress documentation's host table.
    ["bar.foo.com", ["*.foo.com"], true],
    ["baz.bar.foo.com", ["*.foo.com"], false],
    ["foo.com", ["*.foo.com"], false],
    // Exact names, case-insensitive.
    ["foo.com", ["foo.com"], true],
    ["FOO.com", ["foo.COM"], true],
    ["www.foo.com", ["foo.com"], false],
    ["foo.com", [], false],
    // A wildcard host needs the same wildcard name.
    ["*.foo.com", ["*.foo.com"], true],
    ["*.foo.com", ["*.FOO.com"], true],
    ["*.foo.com", ["a.foo.com", "foo.com"], false],
    ["*.bar.foo.com", ["*.foo.com"], false],
    // Suffix matching is by label.
    ["xfoo.com", ["*.foo.com"], false],
    ["a.xfoo.com", ["*.foo.com"], false],
    [".foo.com", ["*.foo.com"], false],
    // Any one name suffices.
    ["app.example.com", ["other.test", "*.example.com"], true],
  ];
  for (const [host, names, covered] of table) {
    assert.equal(hostCovered(host, names), covered, `${host} by ${JSON.stringify(names)}`);
  }
});

test("a CA bundle yields the sha256 of its bytes; every certificate must parse", () => {
  const bundle = ca.certificatePem + rsaCa.certificatePem;
  const result = inspectCaSecret(buildCaSecret(id, bundle));
  assert.deepEqual(result.problems, []);
  assert.equal(result.sha256, createHash("sha256").update(bundle).digest("hex"));

  const bad = inspectCaSecret(buildCaSecret(id, ca.certificatePem + GARBAGE_CERT));
  assert.equal(bad.sha256, undefined);
  assert.equal(bad.problems[0]?.reason, Reason.InvalidCertificate);
  assert.equal(bad.problems[0]?.field, 'data["ca.crt"]');

  const missing = inspectCaSecret({ type: "Opaque", data: {} });
  assert.equal(missing.problems[0]?.field, 'data["ca.crt"]');
  assert.equal(inspectCaSecret({ stringData: { "ca.crt": ca.certificatePem } }).problems.length, 0);
});

test("no problem message, nor SecretBytes, ever shows key material", () => {
  const keyPem = wildcard.keyPem;
  const secrets: V1Secret[] = [
    tls(wildcard.chainPem, other.keyPem),
    tls(keyPem, keyPem),
    tls(GARBAGE_CERT, keyPem.replace(/[A-Za-z]{8}/, "AAAAAAAA")),
    tls(GARBAGE_CERT, `${keyPem}junk`),
    tls(wildcard.chainPem, keyPem.replace("-----END PRIVATE KEY-----", "")),
    tls(wildcard.chainPem, keyPem + other.keyPem),
    { ...tls(wildcard.chainPem, keyPem), type: "Opaque" },
    { type: "kubernetes.io/tls", stringData: { "tls.crt": keyPem, "tls.key": `x${keyPem}` } },
  ];
  const keyLines = [keyPem, other.keyPem].flatMap((pem) =>
    pem.split("\n").filter((line) => line.length >= 16 && !line.startsWith("-----")),
  );
  const encoded = Buffer.from(keyPem).toString("base64").slice(0, 24);
  for (const secret of secrets) {
    for (const problem of inspectTlsSecret(secret, NOW).problems) {
      for (const line of keyLines) assert.ok(!problem.message.includes(line), problem.message);
      assert.ok(!problem.message.includes(encoded), problem.message);
    }
  }

  const bytes = new SecretBytes(Buffer.from(keyPem));
  const shown = [
    String(bytes),
    `${bytes}`,
    JSON.stringify({ bytes }),
    inspect(bytes),
    inspect({ nested: { bytes } }, { showHidden: true, depth: 10 }),
    format("%s %o %O %j", bytes, bytes, bytes, bytes),
  ];
  for (const text of shown) {
    assert.ok(!text.includes("PRIVATE KEY"), text);
    assert.ok(text.includes("[redacted]"), text);
  }
  assert.equal(bytes.reveal().toString(), keyPem);
  assert.equal(bytes.length, keyPem.length);
});

test("the golden fixtures are what their names say (at the golden tests' now)", () => {
  const read = (name: string): V1Secret =>
    parse(
      readFileSync(
        new URL(`../../test/golden/fixtures/secret-${name}.yaml`, import.meta.url),
        "utf8",
      ),
    ) as V1Secret;
  const valid: Array<[string, string[]]> = [
    ["wildcard-example-com", ["*.example.com", "example.com"]],
    ["app-example-com-rsa", ["app.example.com"]],
    ["other-test", ["other.test"]],
  ];
  for (const [name, dnsNames] of valid) {
    const result = inspectTlsSecret(read(name), NOW);
    assert.deepEqual(result.problems, [], name);
    assert.deepEqual(result.certificate?.dnsNames, dnsNames, name);
  }
  const invalid: Array<[string, string, string]> = [
    ["expired-example-com", Reason.CertificateExpired, 'data["tls.crt"]'],
    ["not-yet-valid-example-com", Reason.CertificateExpired, 'data["tls.crt"]'],
    ["mismatched-example-com", Reason.KeyMismatch, 'data["tls.key"]'],
    ["garbage-example-com", Reason.InvalidCertificate, 'data["tls.crt"]'],
    ["opaque-example-com", Reason.InvalidCertificate, "type"],
  ];
  for (const [name, reason, field] of invalid) {
    const problem = problemOf(read(name));
    assert.deepEqual([problem.reason, problem.field], [reason, field], name);
  }
  const bundle = inspectCaSecret(read("test-ca"));
  assert.deepEqual(bundle.problems, []);
  assert.match(bundle.sha256 ?? "", /^[0-9a-f]{64}$/);
});
