// The tools the benchmark runs, installed from Debian packages when missing (as root; otherwise it
// says which command to run). Debian's postinst scripts may start the system nginx and haproxy
// services; the benchmark never uses or stops them.
import { execFileSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/** Each command the benchmark runs and the Debian package that provides it. */
export const TOOLS: readonly { command: string; pkg: string }[] = [
  { command: "nginx", pkg: "nginx" },
  { command: "haproxy", pkg: "haproxy" },
  { command: "wrk", pkg: "wrk" },
  { command: "h2load", pkg: "nghttp2-client" },
  { command: "openssl", pkg: "openssl" },
  { command: "taskset", pkg: "util-linux" },
];

/** Whether `command` is an executable on PATH (or in /usr/sbin, /sbin: nginx and haproxy live there). */
export function hasCommand(command: string): boolean {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin"];
  return dirs.some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The packages whose commands are missing (pure over `has`). */
export function missingPackages(has: (command: string) => boolean = hasCommand): string[] {
  return TOOLS.filter((t) => !has(t.command)).map((t) => t.pkg);
}

/**
 * Installs what is missing with apt-get (as root), or throws with the command to run. Logs what it
 * does through `log`.
 */
export function ensureTools(install: boolean, log: (line: string) => void): void {
  // /usr/sbin first: a non-login root shell may not have it on PATH.
  if (!(process.env.PATH ?? "").split(":").includes("/usr/sbin")) {
    process.env.PATH = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
  }
  const missing = missingPackages();
  if (missing.length === 0) return;
  const command = `apt-get install -y --no-install-recommends ${missing.join(" ")}`;
  if (!install || process.getuid?.() !== 0) {
    throw new Error(
      `missing tools (packages ${missing.join(", ")}); install them with:\n  sudo apt-get update && sudo ${command}`,
    );
  }
  log(`Installing ${missing.join(", ")} with apt-get (missing)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env, timeout: 600_000 });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
    stdio: "inherit",
    env,
    timeout: 900_000,
  });
  const still = missingPackages();
  if (still.length > 0) throw new Error(`apt-get did not provide: ${still.join(", ")}`);
}
