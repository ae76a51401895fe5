// The set of ClusterRuntimes for the applied ProxyConfig. Applying a new config builds a runtime per
// cluster, handing each the previous runtime of the same name so endpoint state carries over, then
// retires the previous runtimes. Callers look clusters up by the names routes carry.
import type { ProxyConfig } from "../config/types.ts";
import { type ActiveProbe, type ClusterDeps, ClusterRuntime } from "./cluster.ts";

/** What the registry needs: the runtimes' dependencies, and the active health probe if there is one. */
export interface ClusterRegistryDeps extends ClusterDeps {
  /** Sends active health probes (the upstream module's HTTP GET); without it, active checks are off. */
  probe?: ActiveProbe;
}

/** The ClusterRuntimes of the current config, by cluster name. */
export class ClusterRegistry {
  #deps: ClusterRegistryDeps;
  #clusters = new Map<string, ClusterRuntime>();
  #config: ProxyConfig | undefined;

  /** An empty registry; `apply` fills it. */
  constructor(deps: ClusterRegistryDeps) {
    this.#deps = deps;
  }

  /**
   * Replaces the affinity keys (a rotation: new key first, the previous one after it so existing pins
   * still verify) and rebuilds the runtimes of the applied config with them; endpoint state carries over.
   */
  setAffinityKeys(keys: readonly Buffer[]): void {
    const previousDeps = this.#deps;
    this.#deps = { ...previousDeps, affinityKeys: keys };
    if (this.#config === undefined) return;
    try {
      this.apply(this.#config);
    } catch (error) {
      this.#deps = previousDeps;
      throw error;
    }
  }

  /**
   * Replaces the runtimes with those of `config`. All-or-nothing: if building any runtime throws (an
   * affinity setting the schema should have refused), the previous runtimes stay in place and the
   * error propagates, so the caller can report the config as rejected. Metrics series of endpoints and
   * clusters that no longer exist are dropped.
   */
  apply(config: ProxyConfig): void {
    const previous = this.#clusters;
    const next = new Map<string, ClusterRuntime>();
    for (const cluster of config.clusters) {
      next.set(cluster.name, new ClusterRuntime(cluster, this.#deps, previous.get(cluster.name)));
    }
    this.#clusters = next;
    this.#config = config;
    // Stop the old probes before starting the new ones, so no endpoint is probed twice; the new runtimes
    // resume each endpoint's cadence from the shared health state.
    for (const runtime of previous.values()) runtime.stop();
    const probe = this.#deps.probe;
    if (probe !== undefined) for (const runtime of next.values()) runtime.startActiveChecks(probe);
    const live = new Map<string, ReadonlySet<string>>();
    for (const runtime of next.values()) {
      live.set(runtime.name, new Set(runtime.endpoints.map((endpoint) => endpoint.id)));
    }
    this.#deps.metrics.forgetEndpoints(live);
  }

  /** The runtime of a cluster of the applied config. */
  get(name: string): ClusterRuntime | undefined {
    return this.#clusters.get(name);
  }

  /** Stops every runtime's active checks (on shutdown). */
  stop(): void {
    for (const runtime of this.#clusters.values()) runtime.stop();
  }
}
