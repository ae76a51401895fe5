// The pods' security posture, checked on every container of every variant (so that a container
// added later is covered too): non-root, read-only root filesystem, no privilege escalation, no
// capabilities, RuntimeDefault seccomp; no API token but config-sync's; Secrets mounted 0400.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Container, V1Deployment, V1PodSpec } from "@kubernetes/client-node";
import {
  caBundle,
  certificate,
  config,
  input,
  secret,
  settings,
} from "../../test/golden-infra/support.ts";
import { buildProxyInfrastructure, CONFIG_SYNC_CONTAINER, type InfraSettings } from "./index.ts";

const variants: [string, InfraSettings][] = [
  ["defaults", settings()],
  [
    "custom",
    settings({
      namespace: "edge",
      namePrefix: "edge",
      replicas: null,
      podAntiAffinity: "Required",
      resources: { proxy: { requests: {}, limits: {} } },
      service: { type: "NodePort" },
      tolerations: [{ operator: "Exists" }],
    }),
  ],
];

function podSpec(custom: InfraSettings): V1PodSpec {
  const { objects } = buildProxyInfrastructure(
    input({
      settings: custom,
      config: config({
        certificates: [certificate("default/a")],
        caBundles: [caBundle("shop/ca")],
      }),
      secrets: [secret("default/a"), secret("shop/ca", ["ca.crt"])],
    }),
  );
  const deployment = objects.find((o): o is V1Deployment => o.kind === "Deployment");
  assert.ok(deployment?.spec?.template.spec);
  return deployment.spec.template.spec;
}

function allContainers(spec: V1PodSpec): V1Container[] {
  return [
    ...(spec.initContainers ?? []),
    ...spec.containers,
    ...((spec.ephemeralContainers ?? []) as V1Container[]),
  ];
}

for (const [name, custom] of variants) {
  test(`every container is hardened (${name})`, () => {
    const spec = podSpec(custom);
    const containers = allContainers(spec);
    assert.ok(containers.length >= 2);
    for (const container of containers) {
      const context = container.securityContext;
      const where = `container ${container.name}`;
      assert.equal(context?.runAsNonRoot, true, where);
      assert.ok((context?.runAsUser ?? 0) > 0, where);
      assert.ok((context?.runAsGroup ?? 0) > 0, where);
      assert.equal(context?.readOnlyRootFilesystem, true, where);
      assert.equal(context?.allowPrivilegeEscalation, false, where);
      assert.deepEqual(context?.capabilities, { drop: ["ALL"] }, where);
      assert.equal(context?.privileged, undefined, where);
      assert.deepEqual(context?.seccompProfile, { type: "RuntimeDefault" }, where);
      for (const port of container.ports ?? []) {
        assert.equal(port.hostPort, undefined, where);
        assert.ok(port.containerPort > 1024, `${where}: no privileged port`);
      }
    }
    assert.equal(spec.securityContext?.runAsNonRoot, true);
    assert.deepEqual(spec.securityContext?.seccompProfile, { type: "RuntimeDefault" });
    assert.equal(spec.hostNetwork, undefined);
    assert.equal(spec.hostPID, undefined);
    assert.equal(spec.hostIPC, undefined);
  });

  test(`only config-sync holds an API token, and Secrets are mounted read-only 0400 (${name})`, () => {
    const spec = podSpec(custom);
    assert.equal(spec.automountServiceAccountToken, false);
    const tokenVolumes = (spec.volumes ?? []).filter((v) =>
      v.projected?.sources?.some((s) => s.serviceAccountToken),
    );
    assert.equal(tokenVolumes.length, 1);
    for (const container of allContainers(spec)) {
      const mountsToken = (container.volumeMounts ?? []).some((m) =>
        tokenVolumes.some((v) => v.name === m.name),
      );
      assert.equal(mountsToken, container.name === CONFIG_SYNC_CONTAINER, container.name);
      const mountsSecret = (container.volumeMounts ?? []).some((m) =>
        (spec.volumes ?? []).some((v) => v.name === m.name && v.secret),
      );
      if (container.name === CONFIG_SYNC_CONTAINER) assert.equal(mountsSecret, false);
    }
    const secretVolumes = (spec.volumes ?? []).filter((v) => v.secret);
    assert.equal(secretVolumes.length, 3, "shared keys and two mirrors");
    for (const volume of secretVolumes)
      assert.equal(volume.secret?.defaultMode, 0o400, volume.name);
    // fsGroup lets the non-root user read those files (kubelet adds group read).
    assert.equal(spec.securityContext?.fsGroup, spec.securityContext?.runAsUser);
    // The proxy writes nowhere: every mount is read-only, config-sync writes only the emptyDir.
    for (const container of allContainers(spec)) {
      for (const mount of container.volumeMounts ?? []) {
        const volume = (spec.volumes ?? []).find((v) => v.name === mount.name);
        if (mount.readOnly !== true) {
          assert.equal(container.name, CONFIG_SYNC_CONTAINER, `${container.name} ${mount.name}`);
          assert.equal(volume?.emptyDir?.medium, "Memory");
        }
      }
    }
  });
}
