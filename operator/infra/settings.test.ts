import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULT_INFRA_SETTINGS,
  type InfraSettingsInput,
  InvalidInfraSettingsError,
  resolveInfraSettings,
  validateInfraSettings,
} from "./index.ts";

const image = "registry.example/portcullis:test";

function problems(input: Partial<InfraSettingsInput>): readonly string[] {
  try {
    resolveInfraSettings({ image, ...input } as InfraSettingsInput);
  } catch (error) {
    assert.ok(error instanceof InvalidInfraSettingsError);
    assert.equal(error.code, "PORTCULLIS_INFRA_INVALID_SETTINGS");
    return error.problems;
  }
  return [];
}

test("defaults: only the image is required; the grace period follows the drain", () => {
  const settings = resolveInfraSettings({ image });
  assert.deepEqual(settings, {
    ...DEFAULT_INFRA_SETTINGS,
    image,
    terminationGracePeriodSeconds: 35,
  });
  assert.deepEqual(validateInfraSettings(settings), []);
  assert.equal(resolveInfraSettings({ image, drainSeconds: 50 }).terminationGracePeriodSeconds, 60);
  assert.equal(
    resolveInfraSettings({ image, terminationGracePeriodSeconds: 90 })
      .terminationGracePeriodSeconds,
    90,
  );
});

test("a container's resources replace its default whole; service fields merge one by one", () => {
  const settings = resolveInfraSettings({
    image,
    resources: { proxy: { requests: { cpu: "1" }, limits: {} } },
    service: { type: "NodePort" },
  });
  assert.deepEqual(settings.resources.proxy, { requests: { cpu: "1" }, limits: {} });
  assert.deepEqual(settings.resources.configSync, DEFAULT_INFRA_SETTINGS.resources.configSync);
  assert.deepEqual(settings.service, { ...DEFAULT_INFRA_SETTINGS.service, type: "NodePort" });
  // The defaults are not shared with (or changed through) a resolved value.
  settings.resources.configSync.requests.cpu = "9";
  assert.equal(DEFAULT_INFRA_SETTINGS.resources.configSync.requests.cpu, "10m");
});

test("every problem is reported, each naming its setting", () => {
  assert.deepEqual(problems({ image: "" }), [
    "image: must be an image reference without whitespace",
  ]);
  assert.deepEqual(problems({ namespace: "Bad_NS" }).length, 1);
  assert.match(
    problems({ namePrefix: "1abc" })[0] ?? "",
    /^namePrefix: .*start with a lowercase letter/,
  );
  assert.deepEqual(problems({ replicas: -1 }), [
    "replicas: must be an integer from 0 to 1000 (got -1)",
  ]);
  assert.deepEqual(problems({ replicas: null }), []);
  assert.deepEqual(problems({ workers: 0 }), ["workers: must be an integer from 1 to 256 (got 0)"]);
  assert.deepEqual(problems({ drainSeconds: 5, drainDelaySeconds: 5 }), [
    "drainDelaySeconds: must be less than drainSeconds (the delay is part of the drain)",
  ]);
  assert.deepEqual(problems({ terminationGracePeriodSeconds: 25 }), [
    "terminationGracePeriodSeconds: must be an integer from 26 to 7200 (got 25)",
  ]);
  assert.deepEqual(problems({ service: { type: "ClusterIP", loadBalancerClass: "x/y" } }), [
    "service.loadBalancerClass: may be set only when service.type is LoadBalancer",
  ]);
  assert.deepEqual(problems({ logLevel: "verbose" as "info" }), [
    'logLevel: must be one of error, warn, info, debug (got "verbose")',
  ]);
  assert.deepEqual(problems({ trustedProxies: ["10.0.0.0/8", "::1", "example.com"] }), [
    'trustedProxies: trusted proxy range "example.com" is not an IP address or CIDR',
  ]);
  assert.deepEqual(
    problems({ resources: { proxy: { requests: { memory: "1GB" }, limits: {} } } }),
    ['resources.proxy.requests.memory: "1GB" is not a quantity'],
  );
  assert.deepEqual(problems({ secretsDir: "relative/dir" }), [
    'secretsDir: must be a normalised absolute path other than / (got "relative/dir")',
  ]);
  assert.deepEqual(problems({ secretsDir: "/etc/portcullis" }), [
    'secretsDir: "/etc/portcullis" overlaps the mount at /etc/portcullis/config-initial',
    'secretsDir: "/etc/portcullis" overlaps the mount at /etc/portcullis/keys',
  ]);
  assert.deepEqual(problems({ extra: 1, service: { kind: "x" } } as Partial<InfraSettingsInput>), [
    "extra: unknown setting",
    "service.kind: unknown setting",
  ]);
  assert.equal(
    problems({ workers: 0, replicas: 1.5, podAntiAffinity: "Always" as "None" }).length,
    3,
  );
});

test("valid quantities and a 51-character prefix are accepted", () => {
  const resources = {
    proxy: { requests: { cpu: "1.5", memory: "1e9" }, limits: { memory: "2Gi", cpu: "250m" } },
    configSync: { requests: { "ephemeral-storage": "10Mi" }, limits: {} },
  };
  assert.deepEqual(problems({ resources, namePrefix: `p${"x".repeat(50)}` }), []);
  assert.equal(problems({ namePrefix: `p${"x".repeat(51)}` }).length, 1);
});
