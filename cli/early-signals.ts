// Signals that arrive before a command has installed its own handlers. As PID 1 in a container, node
// ignores SIGTERM unless a handler is installed, and loading the CLI takes about a second: a pod
// stopped in that second would otherwise wait out its whole grace period. Until a long-running
// command takes over (untilSignalled), SIGTERM and SIGINT end the process at once: nothing has
// started that would need draining. Dependency-free, so bin/portcullis.ts can arm it first.

const exitAtOnce = (signal: NodeJS.Signals): void => {
  process.exit(signal === "SIGINT" ? 130 : 143);
};

/** Installs the early handlers (once). */
export function armEarlySignals(): void {
  process.on("SIGTERM", exitAtOnce);
  process.on("SIGINT", exitAtOnce);
}

/** Removes them: the command now handles signals itself (drain, release the lease). */
export function disarmEarlySignals(): void {
  process.off("SIGTERM", exitAtOnce);
  process.off("SIGINT", exitAtOnce);
}
