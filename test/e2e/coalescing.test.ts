// HTTP/2 connection reuse ("coalescing"): a browser reuses one connection for every host the served
// certificate covers, so the proxy routes each request by :authority, and answers 421 Misdirected
// Request only when the certificate served on that connection does not cover the requested host.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { connect } from "node:http2";
import { join } from "node:path";
import { after, test } from "node:test";
import { stringify } from "yaml";
import { buildTlsSecret, issueCertificate } from "../support/pki.ts";
import {
  createPki,
  generateKeys,
  HOST,
  issueWildcard,
  NAMESPACE,
  startBackends,
  startServe,
  stopAllServes,
  temporaryRoot,
  writeManifests,
} from "./support.ts";

after(stopAllServes);

/** An Ingress for one more host, sent to the app-1 Service, with its own TLS Secret when given. */
function extraHostYaml(host: string, secretName: string | undefined): string {
  const ingress = {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name: host.replaceAll(".", "-"), namespace: NAMESPACE },
    spec: {
      ingressClassName: "portcullis",
      ...(secretName ? { tls: [{ hosts: [host], secretName }] } : {}),
      rules: [
        {
          host,
          http: {
            paths: [
              {
                path: "/",
                pathType: "Prefix",
                backend: { service: { name: "app-1", port: { name: "http" } } },
              },
            ],
          },
        },
      ],
    },
  };
  return stringify(ingress);
}

test("HTTP/2: a reused connection is routed by :authority, and 421 only for hosts its certificate does not cover", async () => {
  const root = await temporaryRoot();
  const backends = await startBackends();
  const pki = await createPki();
  const manifests = join(root, "manifests");
  await writeManifests(manifests, {
    app1: backends.app1.map((b) => b.port),
    app2: backends.app2.map((b) => b.port),
    certificate: await issueWildcard(pki.ca),
    keys: generateKeys(),
  });
  // www.example.com: covered by the wildcard served for shop.example.com. other.test: its own certificate.
  const other = await issueCertificate(pki.ca, { dnsNames: ["other.test"] });
  await writeFile(join(manifests, "www.yaml"), extraHostYaml("www.example.com", undefined));
  await writeFile(
    join(manifests, "other.yaml"),
    `${extraHostYaml("other.test", "other-test")}---\n${stringify(
      buildTlsSecret(
        { namespace: NAMESPACE, name: "other-test" },
        { certificatePem: other.chainPem, keyPem: other.keyPem },
      ),
    )}`,
  );
  const serve = await startServe({ paths: [manifests], stateDir: join(root, "state") });
  const session = connect(`https://${HOST}:${serve.httpsPort}`, {
    host: "127.0.0.1",
    port: serve.httpsPort,
    servername: HOST,
    ca: pki.ca.certificatePem,
  });
  const status = (authority: string, path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const stream = session.request({ ":path": path, ":authority": authority });
      stream.on("response", (headers) => resolve(Number(headers[":status"])));
      stream.on("error", reject);
      stream.resume();
      stream.end();
    });
  try {
    assert.equal(await status(HOST, "/app-1/"), 200, "the host the connection was opened for");
    assert.equal(
      await status("www.example.com", "/"),
      200,
      "another host the wildcard covers: routed by :authority",
    );
    assert.equal(
      await status("other.test", "/"),
      421,
      "a host the served certificate does not cover",
    );
  } finally {
    session.close();
    await serve.stop();
    await backends.close();
  }
});
