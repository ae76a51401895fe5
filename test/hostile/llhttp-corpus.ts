// Reads llhttp's markdown test format (test/request/*.md in nodejs/llhttp): each case is a heading,
// a `<!-- meta={...} -->` comment, an ```http block and a ```log block. The input is turned into bytes
// exactly as llhttp's own harness (test/md-test.ts) does, so a case replays the bytes llhttp was
// tested on.

/** One case of the corpus. */
export interface CorpusCase {
  /** The heading, with the file section it sits under ("invalid.md: Invalid method"). */
  name: string;
  /** The meta comment's `type` ("request", "request-lenient-headers", …). */
  type: string;
  /** The bytes to send. */
  input: Buffer;
  /** The expected error, when the log ends in one. */
  error: { offset: number; code: number; reason: string } | null;
  /** Whether a message completes before the error (the log says "message complete" first). */
  completesBeforeError: boolean;
}

/** Parses a corpus file. Throws on a case it cannot read (a broken fixture should fail loudly). */
export function parseCorpus(markdown: string): CorpusCase[] {
  const cases: CorpusCase[] = [];
  const lines = markdown.split("\n");
  let section = "";
  let heading = "";
  let meta: { type?: string } | undefined;
  let http: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith("## ")) section = line.slice(3).trim();
    if (/^#{2,4} /.test(line)) {
      heading = line.replace(/^#+ /, "").trim();
      meta = undefined;
      http = undefined;
      continue;
    }
    const metaMatch = /^<!-- meta=(\{.*\}) -->$/.exec(line.trim());
    if (metaMatch) {
      meta = JSON.parse(metaMatch[1] as string) as { type?: string };
      continue;
    }
    if (line === "```http" || line === "```log") {
      const end = lines.indexOf("```", i + 1);
      if (end === -1) throw new Error(`unterminated block at line ${i + 1}`);
      // llhttp's reader keeps the block's final newline; the harness then strips one.
      const body = `${lines.slice(i + 1, end).join("\n")}\n`;
      if (line === "```http") http = body;
      else {
        if (http === undefined || meta?.type === undefined) {
          throw new Error(`log without input or meta at line ${i + 1} (${heading})`);
        }
        cases.push(buildCase(`${section}: ${heading}`, meta.type, http, body));
        http = undefined;
      }
      i = end;
    }
  }
  return cases;
}

function buildCase(name: string, type: string, http: string, log: string): CorpusCase {
  const errorMatch = /^off=(\d+) error code=(\d+) reason="(.*)"$/m.exec(log);
  const error = errorMatch
    ? {
        offset: Number(errorMatch[1]),
        code: Number(errorMatch[2]),
        reason: errorMatch[3] as string,
      }
    : null;
  const beforeError = errorMatch ? log.slice(0, errorMatch.index) : log;
  return {
    name,
    type,
    input: Buffer.from(unescapeInput(http), "utf8"),
    error,
    completesBeforeError: error !== null && beforeError.includes("message complete"),
  };
}

/** llhttp's md-test.ts transformations, in its order. */
export function unescapeInput(block: string): string {
  let input = block.replace(/\n$/, "");
  input = input.replace(/\\(\r\n|\r|\n)/g, "");
  input = input.replace(/\r\n|\r|\n/g, "\r\n");
  input = input.replace(/\\r/g, "\r");
  input = input.replace(/\\n/g, "\n");
  input = input.replace(/\\t/g, "\t");
  input = input.replace(/\\f/g, "\f");
  input = input.replace(/\\x([0-9a-fA-F]+)/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  input = input.replace(/\\([0-7]{1,3})/g, (_, digits: string) =>
    String.fromCharCode(Number.parseInt(digits, 8)),
  );
  if (/\$\{.+?\}/.test(input))
    throw new Error("inline JavaScript in a corpus case is not supported");
  return input;
}

/**
 * The case's bytes made routable through the proxy: the first Host header's value becomes `host`, or
 * a Host line is added after the request line when there is none (with the line ending the request
 * line uses). Everything else, the malformation included, is left as it is.
 */
export function withHost(input: Buffer, host: string): Buffer {
  const text = input.toString("latin1");
  const headEnd = text.indexOf("\r\n\r\n");
  const head = headEnd === -1 ? text : text.slice(0, headEnd);
  const hostLine = /(^|\n)(host:)[ \t]*([^\r\n]*)/i.exec(head);
  if (hostLine) {
    const start = hostLine.index + (hostLine[1] as string).length;
    const end = start + (hostLine[0].length - (hostLine[1] as string).length);
    return Buffer.from(`${text.slice(0, start)}Host: ${host}${text.slice(end)}`, "latin1");
  }
  const firstLf = text.indexOf("\n");
  if (firstLf === -1) return input;
  const ending = text[firstLf - 1] === "\r" ? "\r\n" : "\n";
  return Buffer.from(
    `${text.slice(0, firstLf + 1)}Host: ${host}${ending}${text.slice(firstLf + 1)}`,
    "latin1",
  );
}
