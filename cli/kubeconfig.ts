// Where the commands that talk to the API server get their credentials: --kubeconfig, else the pod's
// service account. A kubeconfig that cannot be read or parsed is a usage error naming the option (exit
// status 2), not an internal error with a stack trace.
import { resolve } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { InvalidOptionValueError, UsageError } from "./errors.ts";

/** The KubeConfig from `path` (--kubeconfig) or, inside a pod, the in-cluster service account. */
export function loadKubeConfig(path: string | undefined, command: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) {
    try {
      kubeConfig.loadFromFile(resolve(path));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new InvalidOptionValueError("kubeconfig", path, `cannot be loaded: ${reason}`, command);
    }
    return kubeConfig;
  }
  if (process.env.KUBERNETES_SERVICE_HOST === undefined) {
    throw new UsageError(
      "not running in a pod (no KUBERNETES_SERVICE_HOST): pass --kubeconfig PATH",
      command,
    );
  }
  kubeConfig.loadFromCluster();
  return kubeConfig;
}
