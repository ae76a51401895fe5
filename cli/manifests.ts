// Reading Kubernetes manifests from files, directories and standard input: multi-document YAML and
// JSON, `kind: List` expanded, each object tagged with the file and line it starts at. Nothing here
// throws on bad input; every problem comes back as data with a file and, when known, a line.
import { createReadStream, type Dirent } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Document, isNode, LineCounter, parseAllDocuments } from "yaml";
import { compareStrings } from "../operator/api/keys.ts";
import type { Problem } from "./problems.ts";

/** Largest manifest file read, in bytes (8 MiB). The API server's own request limit is 3 MiB. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;

/** File name extensions read when walking a directory. Files named on the command line are read whatever their name. */
export const MANIFEST_EXTENSIONS: readonly string[] = [".yaml", ".yml", ".json"];

/** The path that stands for standard input. */
export const STDIN_PATH = "-";
/** The file name problems and origins give standard input. */
export const STDIN_NAME = "<stdin>";

/** Where an object (or a problem) was found. */
export interface Origin {
  /** The file as named on the command line, or joined onto the directory named there; "<stdin>" for standard input. */
  file: string;
  /** 1-based line where the object's mapping starts. */
  line: number;
}

/** One object read from a manifest. */
export interface LoadedObject {
  /** The object as parsed (YAML 1.1 scalars, like kubectl), not yet defaulted or validated. */
  object: Record<string, unknown>;
  origin: Origin;
}

/** What loadManifests read. */
export interface LoadResult {
  /** Objects in a stable order: paths in the order given, directory entries sorted by name. */
  objects: LoadedObject[];
  /** Files, directories and documents that could not be read or parsed. */
  problems: Problem[];
  /** Every file read, in reading order. */
  files: string[];
}

/** Sources of bytes, replaceable in tests. */
export interface ManifestSources {
  /** Reads standard input (at most `limit` + 1 bytes are needed to detect an oversized input). */
  readStdin: (limit: number) => Promise<Buffer>;
}

const defaultSources: ManifestSources = { readStdin: (limit) => readStream(process.stdin, limit) };

/**
 * Reads every manifest under `paths`: each a file, a directory (walked recursively, hidden entries
 * skipped, sorted by name so the result does not depend on the file system) or "-" for standard input.
 * A file reached twice is read once.
 */
export async function loadManifests(
  paths: readonly string[],
  sources: ManifestSources = defaultSources,
): Promise<LoadResult> {
  const result: LoadResult = { objects: [], problems: [], files: [] };
  const seenFiles = new Set<string>();
  const add = (text: string | undefined, file: string): void => {
    if (text === undefined) return;
    result.files.push(file);
    const parsed = parseManifests(text, file);
    result.objects.push(...parsed.objects);
    result.problems.push(...parsed.problems);
  };

  for (const path of paths) {
    if (path === STDIN_PATH) {
      if (seenFiles.has(STDIN_PATH)) continue;
      seenFiles.add(STDIN_PATH);
      const bytes = await sources.readStdin(MAX_MANIFEST_BYTES);
      if (bytes.length > MAX_MANIFEST_BYTES) result.problems.push(tooLarge(STDIN_NAME));
      else add(decode(bytes), STDIN_NAME);
      continue;
    }
    for (const file of await collectFiles(path, result.problems)) {
      const key = await realpath(file).catch(() => file);
      if (seenFiles.has(key)) continue;
      seenFiles.add(key);
      add(await readManifestFile(file, result.problems), file);
    }
  }
  return result;
}

/**
 * Parses one manifest text: every YAML document (JSON is YAML too) that holds an object, with the
 * items of a `kind: List` (or `*List`) expanded. Empty documents are skipped.
 */
export function parseManifests(
  text: string,
  file: string,
): { objects: LoadedObject[]; problems: Problem[] } {
  const objects: LoadedObject[] = [];
  const problems: Problem[] = [];
  const lineCounter = new LineCounter();
  const source = text.startsWith("\uFEFF") ? text.slice(1) : text;
  // An error found at the end of the text (an unclosed bracket) is shown on the last line with content.
  const lastContent = Math.max(0, source.trimEnd().length - 1);
  const lineOf = (offset: number): number =>
    lineCounter.linePos(Math.min(offset, lastContent)).line;
  const documents = parseAllDocuments(source, {
    lineCounter,
    // kubectl turns YAML into JSON with YAML 1.1 rules (y/n, yes/no, on/off are booleans, 010 is
    // octal); read it the same way so that `check` sees what the API server would be sent.
    version: "1.1",
    // ...but keep timestamps as the strings the API server receives.
    customTags: (tags) =>
      tags.filter((tag) => typeof tag === "string" || tag.tag !== "tag:yaml.org,2002:timestamp"),
    prettyErrors: false,
    uniqueKeys: true,
  });

  for (const document of documents) {
    const start = documentStart(document);
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        problems.push(manifestProblem("Error", file, lineOf(error.pos[0]), error.message));
      }
      continue;
    }
    for (const warning of document.warnings) {
      problems.push(manifestProblem("Warning", file, lineOf(warning.pos[0]), warning.message));
    }
    let value: unknown;
    try {
      value = document.toJS({ maxAliasCount: 100 });
    } catch (error) {
      problems.push(manifestProblem("Error", file, lineOf(start), messageOf(error)));
      continue;
    }
    if (value === null || value === undefined) continue;
    if (!isPlainObject(value)) {
      problems.push(
        manifestProblem(
          "Error",
          file,
          lineOf(start),
          "document is not an object (a mapping with apiVersion and kind)",
        ),
      );
      continue;
    }
    if (!isList(value)) {
      objects.push({ object: value, origin: { file, line: lineOf(start) } });
      continue;
    }
    const items = value.items ?? [];
    if (!Array.isArray(items)) {
      problems.push(
        manifestProblem(
          "Error",
          file,
          lineOf(start),
          `${String(value.kind)}: items must be a list`,
        ),
      );
      continue;
    }
    items.forEach((item: unknown, index) => {
      const node = document.getIn(["items", index], true);
      const line = lineOf(isNode(node) && node.range ? node.range[0] : start);
      if (!isPlainObject(item)) {
        problems.push(manifestProblem("Error", file, line, `items[${index}]: is not an object`));
        return;
      }
      objects.push({ object: withListType(item, value), origin: { file, line } });
    });
  }
  return { objects, problems };
}

/** The offset where a document's content starts (the line users see as "the object"). */
function documentStart(document: Document): number {
  const contents = document.contents;
  if (contents?.range) return contents.range[0];
  return document.range?.[0] ?? 0;
}

/** A `v1 List` (kubectl's) or a typed list such as `ServiceList` (the API's). */
function isList(value: Record<string, unknown>): boolean {
  const kind = value.kind;
  return (
    typeof kind === "string" && (kind === "List" || (kind.endsWith("List") && "items" in value))
  );
}

/** Items of a typed list (the API's `ServiceList`) carry no apiVersion and kind; they are the list's. */
function withListType(
  item: Record<string, unknown>,
  list: Record<string, unknown>,
): Record<string, unknown> {
  const kind = list.kind as string;
  if (kind === "List" || ("apiVersion" in item && "kind" in item)) return item;
  return { apiVersion: list.apiVersion, kind: kind.slice(0, -"List".length), ...item };
}

/** The files a command-line path stands for, sorted; problems for paths that do not exist. */
async function collectFiles(path: string, problems: Problem[]): Promise<string[]> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    problems.push(fileProblem(path, describeFsError(error)));
    return [];
  }
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  await walk(path, files, problems, new Set());
  if (files.length === 0) {
    problems.push({
      severity: "Warning",
      source: "manifest",
      file: path,
      message: `no manifest files (${MANIFEST_EXTENSIONS.map((e) => `*${e}`).join(", ")}) in this directory`,
    });
  }
  return files;
}

async function walk(
  directory: string,
  files: string[],
  problems: Problem[],
  visited: Set<string>,
): Promise<void> {
  const real = await realpath(directory).catch(() => directory);
  if (visited.has(real)) return; // a symbolic link loop
  visited.add(real);
  let entries: Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    problems.push(fileProblem(directory, describeFsError(error)));
    return;
  }
  entries.sort((a, b) => compareStrings(a.name, b.name));
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = join(directory, entry.name);
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(path).catch(() => undefined);
      isDirectory = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDirectory) await walk(path, files, problems, visited);
    else if (isFile && MANIFEST_EXTENSIONS.some((extension) => entry.name.endsWith(extension))) {
      files.push(path);
    }
  }
}

/** The text of a file, or undefined (with a problem recorded) when it is unreadable or too large. */
async function readManifestFile(file: string, problems: Problem[]): Promise<string | undefined> {
  try {
    // Streamed with a limit rather than stat-then-read: a named pipe (`<(kubectl get ...)`) has no size.
    const bytes = await readStream(createReadStream(file), MAX_MANIFEST_BYTES);
    if (bytes.length > MAX_MANIFEST_BYTES) {
      problems.push(tooLarge(file));
      return undefined;
    }
    return decode(bytes);
  } catch (error) {
    problems.push(fileProblem(file, describeFsError(error)));
    return undefined;
  }
}

/** Up to `limit` + 1 bytes of a stream (one more than allowed is enough to tell it is too large). */
async function readStream(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(bytes);
    length += bytes.length;
    if (length > limit) break;
  }
  return Buffer.concat(chunks);
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

function tooLarge(file: string): Problem {
  return fileProblem(
    file,
    `file is larger than ${MAX_MANIFEST_BYTES / 1024 / 1024} MiB; split it into smaller files`,
  );
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    default:
      return messageOf(error);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function manifestProblem(
  severity: Problem["severity"],
  file: string,
  line: number,
  message: string,
): Problem {
  return { severity, source: "manifest", file, line, message };
}

function fileProblem(file: string, message: string): Problem {
  return { severity: "Error", source: "manifest", file, message };
}
