import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { hostMatches } from "../../operator/compiler/hosts.ts";
import { compareRoutes, pathMatches } from "../../operator/compiler/paths.ts";
import type {
  PassthroughRouteConfig,
  ProxyConfig,
  RouteConfig,
  VirtualHostConfig,
} from "../config/types.ts";
import { normalizeHost } from "./host.ts";
import { normalizeRequestTarget } from "./request-target.ts";
import { Router } from "./router.ts";

function route(
  pathType: "Exact" | "Prefix",
  path: string,
  cluster = `${pathType}:${path}`,
): RouteConfig {
  return { pathType, path, cluster, source: `default/test ${cluster}` };
}

function vhost(
  host: string,
  routes: RouteConfig[],
  defaultCluster: string | null = null,
): VirtualHostConfig {
  // The compiler emits routes sorted by precedence; so do the fixtures.
  return { host, tls: null, routes: [...routes].sort(compareRoutes), defaultCluster };
}

function config(
  virtualHosts: VirtualHostConfig[],
  passthrough: PassthroughRouteConfig[] = [],
): ProxyConfig {
  return {
    schemaVersion: "portcullis.dev/proxy-config/v1alpha1",
    version: "0".repeat(64),
    sources: [],
    listener: {
      defaultCertificate: null,
      unknownServerName: "Reject",
      sessionTicketRotationSeconds: 3600,
    },
    certificates: [],
    caBundles: [],
    virtualHosts,
    passthrough,
    clusters: [],
  };
}

/** Prefix paths as the compiler normalises them (no trailing slash except "/"). */
function prefix(path: string): RouteConfig {
  return route("Prefix", path.length > 1 ? path.replace(/\/+$/, "") : path);
}

// The table of https://kubernetes.io/docs/concepts/services-networking/ingress/#examples:
// [routes, request path, the route that must match (cluster name) or null for the default backend].
const ingressPathTable: Array<[RouteConfig[], string, string | null]> = [
  [[prefix("/")], "/anything/at/all", "Prefix:/"],
  [[route("Exact", "/foo")], "/foo", "Exact:/foo"],
  [[route("Exact", "/foo")], "/bar", null],
  [[route("Exact", "/foo")], "/foo/", null],
  [[route("Exact", "/foo/")], "/foo", null],
  [[prefix("/foo")], "/foo", "Prefix:/foo"],
  [[prefix("/foo")], "/foo/", "Prefix:/foo"],
  [[prefix("/foo/")], "/foo", "Prefix:/foo"],
  [[prefix("/foo/")], "/foo/", "Prefix:/foo"],
  [[prefix("/aaa/bb")], "/aaa/bbb", null],
  [[prefix("/aaa/bbb")], "/aaa/bbb", "Prefix:/aaa/bbb"],
  [[prefix("/aaa/bbb/")], "/aaa/bbb", "Prefix:/aaa/bbb"],
  [[prefix("/aaa/bbb")], "/aaa/bbb/", "Prefix:/aaa/bbb"],
  [[prefix("/aaa/bbb")], "/aaa/bbb/ccc", "Prefix:/aaa/bbb"],
  [[prefix("/aaa/bbb")], "/aaa/bbbxyz", null],
  [[prefix("/"), prefix("/aaa")], "/aaa/ccc", "Prefix:/aaa"],
  [[prefix("/"), prefix("/aaa"), prefix("/aaa/bbb")], "/aaa/bbb", "Prefix:/aaa/bbb"],
  [[prefix("/"), prefix("/aaa"), prefix("/aaa/bbb")], "/ccc", "Prefix:/"],
  [[prefix("/aaa")], "/ccc", null],
  [[prefix("/foo"), route("Exact", "/foo")], "/foo", "Exact:/foo"],
];

test("paths: the Kubernetes Ingress documentation table", () => {
  for (const [routes, path, expected] of ingressPathTable) {
    const router = new Router(config([vhost("foo.example.com", routes, "default")]));
    const match = router.match("foo.example.com", path);
    const label = `${routes.map((r) => r.cluster).join(",")} ${path}`;
    assert.ok(match, label);
    assert.equal(match.route?.cluster ?? null, expected, label);
    assert.equal(match.clusterName, expected ?? "default", label);
  }
});

test("paths: a virtual host without a default backend answers with a null cluster", () => {
  const router = new Router(config([vhost("foo.example.com", [prefix("/app")])]));
  assert.deepEqual(router.match("foo.example.com", "/other"), {
    vhost: vhost("foo.example.com", [prefix("/app")]),
    route: null,
    clusterName: null,
  });
});

test("paths: route paths meet request paths in the same normal form", () => {
  const router = new Router(
    config([vhost("a.example", [prefix("/%7euser"), route("Exact", "/café"), prefix("/x/../y")])]),
  );
  const target = (raw: string): string => {
    const normalized = normalizeRequestTarget(raw);
    assert.ok(!("error" in normalized));
    return normalized.path;
  };
  assert.equal(router.match("a.example", target("/~user/x"))?.clusterName, "Prefix:/%7euser");
  assert.equal(router.match("a.example", target("/%7Euser"))?.clusterName, "Prefix:/%7euser");
  assert.equal(router.match("a.example", target("/caf%c3%a9"))?.clusterName, "Exact:/café");
  // A route path with a dot segment never matches anything rather than something else.
  assert.equal(router.match("a.example", target("/y"))?.route, null);
  assert.equal(router.match("a.example", target("/x/../y"))?.route, null);
});

// The host table of the same documentation page, plus normalisation of the request host.
const hostTable: Array<[string, string | undefined]> = [
  ["foo.bar.com", "foo.bar.com"],
  ["FOO.Bar.COM", "foo.bar.com"],
  ["foo.bar.com:8443", "foo.bar.com"],
  ["foo.bar.com.", "foo.bar.com"],
  ["foo.bar.com.:443", "foo.bar.com"],
  ["bar.foo.com", "*.foo.com"],
  ["Bar.Foo.Com:80", "*.foo.com"],
  ["baz.bar.foo.com", "*"],
  ["foo.com", "*"],
  [".foo.com", "*"],
  ["", "*"],
  ["[::1]:8443", "*"],
  ["10.0.0.1:80", "*"],
  ["other.example", "*"],
];

test("hosts: exact beats wildcard, a wildcard covers one label, the rest goes to the catch-all", () => {
  const router = new Router(
    config([
      vhost("foo.bar.com", [prefix("/")]),
      vhost("*.foo.com", [prefix("/")]),
      vhost("*", [prefix("/")]),
    ]),
  );
  for (const [host, expected] of hostTable) {
    assert.equal(router.match(host, "/")?.vhost.host, expected, host);
  }
});

test("hosts: an exact host and a wildcard covering it are both served, exact first", () => {
  const router = new Router(
    config([vhost("a.foo.com", [prefix("/a")]), vhost("*.foo.com", [prefix("/")])]),
  );
  assert.equal(router.match("a.foo.com", "/a")?.vhost.host, "a.foo.com");
  assert.equal(router.match("b.foo.com", "/a")?.vhost.host, "*.foo.com");
});

test("hosts: a matched host never falls through to the catch-all", () => {
  const router = new Router(
    config([vhost("shop.example.com", [prefix("/app-1")]), vhost("*", [prefix("/")], "fallback")]),
  );
  const match = router.match("shop.example.com", "/elsewhere");
  assert.equal(match?.vhost.host, "shop.example.com");
  assert.equal(match?.clusterName, null);
  assert.equal(router.match("unknown.example.com", "/elsewhere")?.clusterName, "Prefix:/");
});

test("hosts: without a catch-all an unknown host matches nothing", () => {
  const router = new Router(config([vhost("shop.example.com", [prefix("/")])]));
  assert.equal(router.match("unknown.example.com", "/"), undefined);
  assert.equal(router.match("", "/"), undefined);
});

test("normalizeHost", () => {
  assert.equal(normalizeHost("Example.COM.:8443"), "example.com");
  assert.equal(normalizeHost("[2001:DB8::1]:443"), "2001:db8::1");
  assert.equal(normalizeHost("[::1]"), "::1");
  assert.equal(normalizeHost("[::1"), "");
  assert.equal(normalizeHost(""), "");
});

test("passthrough: by SNI, exact beats wildcard, no catch-all", () => {
  const router = new Router(
    config(
      [vhost("*", [prefix("/")])],
      [
        { host: "db.example.com", cluster: "db" },
        { host: "*.example.com", cluster: "wild" },
      ],
    ),
  );
  assert.equal(router.passthroughHost("db.example.com"), "db");
  assert.equal(router.passthroughHost("DB.example.com."), "db");
  assert.equal(router.passthroughHost("x.example.com"), "wild");
  assert.equal(router.passthroughHost("a.b.example.com"), undefined);
  assert.equal(router.passthroughHost("example.com"), undefined);
  assert.equal(router.passthroughHost("other.test"), undefined);
});

test("property: the indexed router agrees with a linear scan using the compiler's semantics", () => {
  const segment = fc.constantFrom("a", "b", "aa", "ab", "app-1", "x");
  const pathOf = (segments: string[], slash: boolean): string =>
    `/${segments.join("/")}${slash && segments.length > 0 ? "/" : ""}`;
  const routeArb = fc
    .record({
      exact: fc.boolean(),
      segments: fc.array(segment, { maxLength: 3 }),
      slash: fc.boolean(),
    })
    .map(({ exact, segments, slash }) =>
      exact ? route("Exact", pathOf(segments, slash)) : prefix(pathOf(segments, false)),
    );
  const requestArb = fc
    .record({ segments: fc.array(segment, { maxLength: 4 }), slash: fc.boolean() })
    .map(({ segments, slash }) => pathOf(segments, slash));
  const hostArb = fc.constantFrom("x.example.com", "y.example.com", "example.com", "other.test");
  fc.assert(
    fc.property(
      fc.array(routeArb, { maxLength: 6 }),
      requestArb,
      hostArb,
      fc.boolean(),
      (routes, path, host, withAny) => {
        const vhosts = [
          vhost("x.example.com", routes, "exact-default"),
          vhost("*.example.com", [prefix("/")], "wild-default"),
        ];
        if (withAny) vhosts.push(vhost("*", [], "any-default"));
        const router = new Router(config(vhosts));
        // Reference: first vhost (in precedence order) whose name matches, then first matching route.
        const named = vhosts.filter((v) => v.host !== "*");
        const expectedHost =
          named.find((v) => hostMatches(v.host, host)) ?? vhosts.find((v) => v.host === "*");
        const match = router.match(host, path);
        if (!expectedHost) {
          assert.equal(match, undefined);
          return;
        }
        const expectedRoute =
          expectedHost.routes.find((r) => pathMatches(r.pathType, r.path, path)) ?? null;
        assert.equal(match?.vhost, expectedHost);
        assert.equal(match?.route, expectedRoute);
        assert.equal(match?.clusterName, expectedRoute?.cluster ?? expectedHost.defaultCluster);
      },
    ),
    { numRuns: 1000 },
  );
});
