import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { test } from "node:test";
import {
  buildCaSecret,
  buildTlsSecret,
  createCertificateAuthority,
  issueCertificate,
} from "./pki.ts";

test("a CA signs leaves of either key type, with the names and dates asked for", async () => {
  for (const caKeyType of ["ecdsa-p256", "rsa-2048"] as const) {
    const ca = await createCertificateAuthority({ keyType: caKeyType });
    const caCertificate = new X509Certificate(ca.certificatePem);
    assert.equal(caCertificate.ca, true);
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);

    for (const keyType of ["ecdsa-p256", "rsa-2048"] as const) {
      const leaf = await issueCertificate(ca, {
        dnsNames: ["*.example.com", "example.com"],
        keyType,
        notBefore: new Date("2025-01-01T00:00:00Z"),
        notAfter: new Date("2125-01-01T00:00:00Z"),
      });
      const certificate = new X509Certificate(leaf.certificatePem);
      assert.equal(certificate.ca, false);
      assert.equal(certificate.subjectAltName, "DNS:*.example.com, DNS:example.com");
      assert.equal(certificate.validFromDate.toISOString(), "2025-01-01T00:00:00.000Z");
      assert.equal(certificate.validToDate.toISOString(), "2125-01-01T00:00:00.000Z");
      assert.ok(certificate.checkIssued(caCertificate));
      assert.ok(certificate.verify(caCertificate.publicKey));
      const key = createPrivateKey(leaf.keyPem);
      assert.equal(key.asymmetricKeyType, keyType === "rsa-2048" ? "rsa" : "ec");
      assert.ok(certificate.checkPrivateKey(key));
      assert.ok(leaf.chainPem.startsWith(leaf.certificatePem));
      assert.ok(leaf.chainPem.includes(ca.certificatePem));
    }
  }
});

test("Secrets carry base64 PEM under the standard keys", async () => {
  const ca = await createCertificateAuthority();
  const leaf = await issueCertificate(ca, { dnsNames: ["app.example.com"] });
  const id = { namespace: "default", name: "app" };
  const secret = buildTlsSecret(id, {
    certificatePem: leaf.chainPem,
    keyPem: leaf.keyPem,
    caPem: ca.certificatePem,
  });
  assert.equal(secret.type, "kubernetes.io/tls");
  assert.deepEqual(secret.metadata, { name: "app", namespace: "default" });
  const decode = (value: string | undefined) => Buffer.from(value ?? "", "base64").toString();
  assert.equal(decode(secret.data?.["tls.crt"]), leaf.chainPem);
  assert.equal(decode(secret.data?.["tls.key"]), leaf.keyPem);
  assert.equal(decode(secret.data?.["ca.crt"]), ca.certificatePem);

  const bundle = buildCaSecret(id, ca.certificatePem);
  assert.equal(bundle.type, "Opaque");
  assert.deepEqual(Object.keys(bundle.data ?? {}), ["ca.crt"]);
});
