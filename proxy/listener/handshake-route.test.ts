import assert from "node:assert/strict";
import { test } from "node:test";
import { TlsAlert } from "./client-hello.ts";
import { buildHandshakeRouter } from "./handshake-route.ts";
import { buildHostTable } from "./sni.ts";
import { tlsHost } from "./testing/fixtures.ts";
import type { TlsSelection, TlsSnapshot } from "./tls-snapshot.ts";

/** A snapshot whose selections only carry a profile key (all the router reads). */
function snapshot(hosts: Record<string, string>, fallbackKey?: string): TlsSnapshot {
  const table = buildHostTable(
    Object.entries(hosts).map(
      ([host, profileKey]) => [host, { profileKey } as TlsSelection] as const,
    ),
  );
  const fallback = fallbackKey ? ({ profileKey: fallbackKey } as TlsSelection) : undefined;
  return {
    configVersion: undefined,
    fallback,
    profiles: new Map(),
    primaryProfileKey: fallbackKey ?? "p",
    select: (name) => table.lookup(name) ?? fallback,
  };
}

test("exact names beat wildcards across passthrough and terminated hosts", () => {
  const router = buildHandshakeRouter({
    passthrough: [
      { host: "db.example.com", cluster: "db" },
      { host: "*.pass.example.com", cluster: "pass" },
    ],
    virtualHosts: [tlsHost("*.example.com", "wild"), tlsHost("tls.pass.example.com", "exact")],
  });
  const tls = snapshot({ "*.example.com": "modern", "tls.pass.example.com": "legacy" });
  assert.deepEqual(router.route("db.example.com", tls), {
    kind: "passthrough",
    route: { host: "db.example.com", cluster: "db" },
    serverName: "db.example.com",
  });
  assert.deepEqual(router.route("web.example.com", tls), {
    kind: "terminate",
    profileKey: "modern",
  });
  assert.deepEqual(router.route("tls.pass.example.com", tls), {
    kind: "terminate",
    profileKey: "legacy",
  });
  assert.equal(router.route("x.pass.example.com", tls).kind, "passthrough");
  assert.equal(router.passthroughRoutes, 2);
});

test("the same pattern as passthrough and as a TLS host goes to passthrough", () => {
  const router = buildHandshakeRouter({
    passthrough: [{ host: "both.test", cluster: "pass" }],
    virtualHosts: [tlsHost("both.test", "cert")],
  });
  assert.equal(router.route("both.test", snapshot({ "both.test": "p" })).kind, "passthrough");
});

test("unknown names get the fallback, or unrecognized_name; no name gets handshake_failure", () => {
  const router = buildHandshakeRouter({ passthrough: [], virtualHosts: [tlsHost("a.test", "a")] });
  const rejecting = snapshot({ "a.test": "p" });
  assert.deepEqual(router.route("b.test", rejecting), {
    kind: "reject",
    alert: TlsAlert.UnrecognizedName,
  });
  assert.deepEqual(router.route(undefined, rejecting), {
    kind: "reject",
    alert: TlsAlert.HandshakeFailure,
  });
  const withDefault = snapshot({ "a.test": "p" }, "default");
  assert.deepEqual(router.route("b.test", withDefault), {
    kind: "terminate",
    profileKey: "default",
  });
  assert.deepEqual(router.route(undefined, withDefault), {
    kind: "terminate",
    profileKey: "default",
  });
});
