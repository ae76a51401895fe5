// A proxy pod without a kubelet: runs the containers of the operator's proxy Deployment as local
// processes, with the args the Deployment gives them, and plays the kubelet's part for volumes —
// Secret and ConfigMap volumes are written under a root directory (and refreshed every
// `refreshMs`, as the kubelet's sync loop does, with its atomic `..data` symlink swap), emptyDirs
// are created. Paths in the
// args are moved under the root; ports are replaced with free ones and bound to `bindAddress`.
// The config-sync container gets a kubeconfig holding a token of the Deployment's ServiceAccount
// (TokenRequest), so it runs with exactly the rights the operator's Role grants.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { V1ConfigMap, V1Deployment, V1Secret } from "@kubernetes/client-node";
import { writeAtomicVolume } from "../../proxy/listener/testing/fixtures.ts";
import { freePort, NODE, PORTCULLIS } from "../e2e/support.ts";
import type { TestCluster } from "./cluster.ts";

export interface ProxyPod {
  httpsPort: number;
  httpPort: number;
  adminPort: number;
  /** Every line both containers printed, for failure messages. */
  output(): string;
  /** Writes the Secret and ConfigMap volumes again now (what the kubelet's next sync would do). */
  refreshVolumes(): Promise<void>;
  /** SIGTERM both containers and waits for them. */
  stop(): Promise<void>;
}

export interface ProxyPodOptions {
  cluster: TestCluster;
  deployment: V1Deployment;
  /** Directory standing in for the pod's filesystem. */
  root: string;
  /** Address the proxy binds (must be one an EndpointSlice accepts: not loopback). */
  bindAddress: string;
  /** Kubelet volume refresh period, ms. Default 250 (the real one is about a minute). */
  refreshMs?: number;
}

async function getJson<T>(cluster: TestCluster, args: string[]): Promise<T | undefined> {
  const result = await cluster.kubectl(["get", ...args, "-o", "json"]);
  if (result.code !== 0) return undefined;
  return JSON.parse(result.stdout) as T;
}

/**
 * Writes a volume's files as the kubelet's atomic writer does (writeAtomicVolume), so that a reader
 * never sees half an update. Nothing is written when the content is unchanged.
 */
async function writeVolume(target: string, files: ReadonlyMap<string, Buffer>): Promise<void> {
  let unchanged = true;
  for (const [name, content] of files) {
    const current = await readFile(join(target, name)).catch(() => undefined);
    if (!current?.equals(content)) unchanged = false;
  }
  if (unchanged) return;
  await writeAtomicVolume(target, Object.fromEntries(files));
}

export async function startProxyPod(options: ProxyPodOptions): Promise<ProxyPod> {
  const { cluster, deployment, root } = options;
  const namespace = deployment.metadata?.namespace ?? "";
  const pod = deployment.spec?.template.spec;
  if (!pod) throw new Error("the Deployment has no pod template");
  const under = (path: string): string => (path.startsWith(root) ? path : join(root, path));
  const mounts = new Map<string, string[]>();
  for (const container of pod.containers) {
    for (const mount of container.volumeMounts ?? []) {
      mounts.set(mount.name, [...(mounts.get(mount.name) ?? []), under(mount.mountPath)]);
    }
  }

  const refreshVolumes = async (): Promise<void> => {
    for (const volume of pod.volumes ?? []) {
      const targets = mounts.get(volume.name) ?? [];
      let files: Map<string, Buffer> | undefined;
      if (volume.secret?.secretName) {
        const secret = await getJson<V1Secret>(cluster, [
          "secret",
          "-n",
          namespace,
          volume.secret.secretName,
        ]);
        if (!secret) continue;
        files = new Map(
          Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]),
        );
        if (volume.secret.items) {
          files = new Map(
            volume.secret.items.flatMap((item) => {
              const content = files?.get(item.key);
              return content ? [[item.path, content] as const] : [];
            }),
          );
        }
      } else if (volume.configMap?.name) {
        const map = await getJson<V1ConfigMap>(cluster, [
          "configmap",
          "-n",
          namespace,
          volume.configMap.name,
        ]);
        if (!map) continue;
        files = new Map(Object.entries(map.data ?? {}).map(([k, v]) => [k, Buffer.from(v)]));
      } else if (volume.emptyDir) {
        for (const target of targets) await mkdir(target, { recursive: true });
      }
      if (!files) continue;
      for (const target of targets) await writeVolume(target, files);
    }
  };
  await refreshVolumes();

  const ports = { https: await freePort(), http: await freePort(), admin: await freePort() };
  const kubeconfig = join(root, "config-sync.kubeconfig");
  const token = await cluster.kubectl([
    "create",
    "token",
    "-n",
    namespace,
    pod.serviceAccountName ?? "default",
    "--duration",
    "1h",
  ]);
  if (token.code !== 0) throw new Error(`kubectl create token failed: ${token.stderr}`);
  const admin = await readFile(cluster.kubeconfigPath, "utf8");
  const server = /server: (\S+)/.exec(admin)?.[1] ?? "";
  const ca = /certificate-authority-data: (\S+)/.exec(admin)?.[1] ?? "";
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", certificate-authority-data: ${ca} } }]
users: [{ name: proxy, user: { token: "${token.stdout.trim()}" } }]
contexts: [{ name: proxy, context: { cluster: c, user: proxy } }]
current-context: proxy
`,
  );

  let output = "";
  const children: ChildProcess[] = [];
  for (const container of pod.containers) {
    const args = (container.args ?? []).map((arg) => (arg.startsWith("/") ? under(arg) : arg));
    const replace = (flag: string, value: string): void => {
      const index = args.indexOf(flag);
      if (index === -1) args.push(flag, value);
      else args[index + 1] = value;
    };
    if (args[0] === "proxy") {
      replace("--https-port", String(ports.https));
      replace("--http-port", String(ports.http));
      replace("--admin-port", String(ports.admin));
      replace("--bind-address", options.bindAddress);
      replace("--drain-delay-seconds", "0");
      replace("--workers", "1");
    } else if (args[0] === "config-sync") {
      replace("--kubeconfig", kubeconfig);
    }
    const child = spawn(NODE, [PORTCULLIS, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const collect = (chunk: Buffer): void => {
      output += `[${container.name}] ${chunk.toString("utf8")}`;
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    children.push(child);
  }

  let refreshing = Promise.resolve();
  let periodicBusy = false;
  const timer = setInterval(() => {
    // Like the kubelet's sync loop: a tick that finds the last refresh still running is skipped
    // (queueing every tick would build an ever longer backlog of kubectl calls).
    if (periodicBusy) return;
    periodicBusy = true;
    refreshing = refreshing
      .then(refreshVolumes)
      .catch(() => {})
      .finally(() => {
        periodicBusy = false;
      });
  }, options.refreshMs ?? 250);

  return {
    httpsPort: ports.https,
    httpPort: ports.http,
    adminPort: ports.admin,
    output: () => output,
    refreshVolumes() {
      // One refresh at a time: the periodic one and this one write the same files.
      refreshing = refreshing.then(refreshVolumes);
      return refreshing;
    },
    async stop() {
      clearInterval(timer);
      await refreshing;
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once("exit", () => resolve());
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
            }),
        ),
      );
    },
  };
}
