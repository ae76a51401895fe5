// One problem found in the user's manifests, whoever found it (the manifest reader, offline
// admission, the compiler), and the one place that prints it. The text form is one line,
// `FILE:LINE: [warning: ]Kind namespace/name: MESSAGE`, which editors and CI annotators can parse.
import { styleText } from "node:util";
import { compareStrings, formatKey } from "../operator/api/keys.ts";
import type { Reason } from "../operator/compiler/reasons.ts";

/** What found the problem. */
export type ProblemSource = "manifest" | "admission" | "compiler";

/** The object a problem is about. */
export interface ProblemObject {
  kind: string;
  /** "" for cluster-scoped objects. */
  namespace: string;
  name: string;
}

/** One problem, printable as a line and serialisable as JSON. */
export interface Problem {
  /** Errors fail `check`; warnings fail it only with --strict. */
  severity: "Error" | "Warning";
  source: ProblemSource;
  /** File the problem (or its object) is in; absent when not known. */
  file?: string;
  /** 1-based line in `file`; absent for problems about a whole file. */
  line?: number;
  /** The object at fault, when the problem is about one. */
  object?: ProblemObject;
  /** JSON path of the field at fault (compiler diagnostics and admission), when known. */
  field?: string;
  /** Condition reason (compiler diagnostics only). */
  reason?: Reason;
  /**
   * The message. Admission messages are complete API-server lines that begin with the field;
   * compiler messages do not name the field (see formatMessage).
   */
  message: string;
}

/** Problems counted by severity. */
export interface ProblemCounts {
  errors: number;
  warnings: number;
}

/** Counts errors and warnings. */
export function countProblems(problems: readonly Problem[]): ProblemCounts {
  let errors = 0;
  for (const problem of problems) if (problem.severity === "Error") errors++;
  return { errors, warnings: problems.length - errors };
}

/** Problems in reading order: by file, then line; problems with no file last. Stable otherwise. */
export function sortProblems(problems: readonly Problem[]): Problem[] {
  return problems
    .map((problem, index) => ({ problem, index }))
    .sort((a, b) => {
      const p = a.problem;
      const q = b.problem;
      if (p.file === undefined || q.file === undefined) {
        if (p.file !== q.file) return p.file === undefined ? 1 : -1;
      } else if (p.file !== q.file) {
        return compareStrings(p.file, q.file);
      }
      return (p.line ?? 0) - (q.line ?? 0) || a.index - b.index;
    })
    .map(({ problem }) => problem);
}

/** The message with its field and reason: "FIELD: message (Reason)" for compiler diagnostics. */
export function formatMessage(problem: Problem): string {
  if (problem.source !== "compiler") return problem.message;
  const field = problem.field ? `${problem.field}: ` : "";
  const reason = problem.reason ? ` (${problem.reason})` : "";
  return `${field}${problem.message}${reason}`;
}

/** Where a problem is, as "FILE:LINE" (or "FILE"), or undefined. */
export function formatLocation(problem: Problem): string | undefined {
  if (problem.file === undefined) return undefined;
  return problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
}

/** The object part of a problem line, "Kind namespace/name". */
export function formatObject(object: ProblemObject): string {
  return `${object.kind} ${formatKey(object)}`;
}

/**
 * One problem as one line (no newline). Colours only when `stream` is a terminal that wants them
 * (util.styleText checks isTTY, NO_COLOR and FORCE_COLOR).
 */
export function formatProblem(problem: Problem, stream: NodeJS.WritableStream): string {
  const style = (format: Parameters<typeof styleText>[0], text: string): string =>
    styleText(format, text, { stream });
  const parts: string[] = [];
  const location = formatLocation(problem);
  if (location !== undefined) parts.push(style("bold", `${location}:`));
  if (problem.severity === "Warning") parts.push(style("yellow", "warning:"));
  if (problem.object) parts.push(`${formatObject(problem.object)}:`);
  const message = formatMessage(problem);
  parts.push(problem.severity === "Error" ? style("red", message) : message);
  return parts.join(" ");
}

/** "1 error", "2 warnings". */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
