// Liveness and readiness as the kubelet should see them. Liveness is "the process answers": restarting
// a proxy that is merely unconfigured or draining would only make things worse. Readiness gates the
// Service endpoints: false until the first config is applied (an empty proxy answers 404 to everyone),
// and false again from the moment draining starts, so load balancers stop sending new connections while
// the established ones finish.

/** What the admin server asks on /healthz and /readyz. */
export interface Health {
  /** Whether the process should be left running (/healthz). */
  live(): boolean;
  /** Whether the process should receive traffic (/readyz). */
  ready(): boolean;
}

/** Health that the proxy's lifecycle drives. */
export interface HealthState extends Health {
  /** Records that a config was applied; the first call makes the process ready. */
  configApplied(): void;
  /** Records that draining started (SIGTERM); readiness stays false from now on. */
  startDraining(): void;
  /** Whether draining has started. */
  readonly draining: boolean;
}

/** Creates the health state of a fresh process: live, not ready, not draining. */
export function createHealthState(): HealthState {
  let applied = false;
  let draining = false;
  return {
    live: () => true,
    ready: () => applied && !draining,
    configApplied: () => {
      applied = true;
    },
    startDraining: () => {
      draining = true;
    },
    get draining() {
      return draining;
    },
  };
}
