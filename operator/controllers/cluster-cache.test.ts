// referencedSecrets: the one place that decides which Secrets the cache keeps with their data. The
// rest of cluster-cache.ts is informers against an API server (see test/integration/).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { V1Ingress } from "@kubernetes/client-node";
import type { LoadBalancerPolicy } from "../api/policy.ts";
import { referencedSecrets } from "./cluster-cache.ts";

function ingress(namespace: string, name: string, secretNames: (string | undefined)[]): V1Ingress {
  return {
    metadata: { namespace, name },
    spec: {
      tls: secretNames.map((secretName) =>
        secretName === undefined ? { hosts: ["a.example.com"] } : { secretName },
      ),
    },
  };
}

/** A policy with only the fields referencedSecrets reads (the rest of the spec is beside the point). */
function policy(
  namespace: string,
  name: string,
  refs: { certificate?: string; ca?: string },
): LoadBalancerPolicy {
  const spec: Record<string, unknown> = { targetRefs: [] };
  if (refs.certificate !== undefined) spec.certificate = { secretName: refs.certificate };
  if (refs.ca !== undefined) spec.tls = { mode: "Reencrypt", upstream: { caSecretName: refs.ca } };
  return { metadata: { namespace, name }, spec } as unknown as LoadBalancerPolicy;
}

function sorted(keys: Set<string>): string[] {
  return [...keys].sort();
}

describe("referencedSecrets", () => {
  test("Ingress spec.tls secretNames, in the Ingress's namespace", () => {
    const keys = referencedSecrets(
      [ingress("shop", "web", ["web-tls", "api-tls"]), ingress("blog", "web", ["web-tls"])],
      [],
      [],
    );
    assert.deepEqual(sorted(keys), ["blog/web-tls", "shop/api-tls", "shop/web-tls"]);
  });

  test("policy certificate and upstream CA Secrets, in the policy's namespace", () => {
    const keys = referencedSecrets(
      [],
      [
        policy("shop", "edge", { certificate: "wildcard", ca: "backend-ca" }),
        policy("blog", "edge", { certificate: "blog-cert" }),
        policy("api", "edge", { ca: "api-ca" }),
      ],
      [],
    );
    assert.deepEqual(sorted(keys), [
      "api/api-ca",
      "blog/blog-cert",
      "shop/backend-ca",
      "shop/wildcard",
    ]);
  });

  test("pinned keys are kept, even with nothing referencing them", () => {
    const keys = referencedSecrets([], [], ["portcullis/default-cert"]);
    assert.deepEqual(sorted(keys), ["portcullis/default-cert"]);
  });

  test("no duplicates when the same Secret is named several times", () => {
    const keys = referencedSecrets(
      [ingress("shop", "web", ["shared", "shared"]), ingress("shop", "api", ["shared"])],
      [policy("shop", "edge", { certificate: "shared", ca: "shared" })],
      ["shop/shared"],
    );
    assert.deepEqual(sorted(keys), ["shop/shared"]);
  });

  test("TLS entries without a secretName, and policies without references, add nothing", () => {
    const keys = referencedSecrets(
      [
        ingress("shop", "web", [undefined, "web-tls", ""]),
        { metadata: { namespace: "shop", name: "plain" }, spec: {} },
        { metadata: { namespace: "shop", name: "empty" } },
      ],
      [policy("shop", "balance-only", {})],
      [],
    );
    assert.deepEqual(sorted(keys), ["shop/web-tls"]);
  });

  test("a tls section without upstream adds nothing", () => {
    const withoutUpstream = {
      metadata: { namespace: "shop", name: "edge" },
      spec: { targetRefs: [], tls: { mode: "Terminate" } },
    } as unknown as LoadBalancerPolicy;
    assert.deepEqual(sorted(referencedSecrets([], [withoutUpstream], [])), []);
  });

  test("the same Secret name in two namespaces is two keys", () => {
    const keys = referencedSecrets(
      [ingress("shop", "web", ["tls"])],
      [policy("blog", "edge", { certificate: "tls" })],
      [],
    );
    assert.deepEqual(sorted(keys), ["blog/tls", "shop/tls"]);
  });

  test("does not change the pinned list it is given", () => {
    const pinned = Object.freeze(["portcullis/default-cert"]);
    referencedSecrets([ingress("shop", "web", ["web-tls"])], [], pinned);
    assert.deepEqual(pinned, ["portcullis/default-cert"]);
  });
});
