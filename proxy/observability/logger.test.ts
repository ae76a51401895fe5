import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createLogger, formatLogLine, isLogLevel } from "./logger.ts";
import { isSensitiveName, REDACTED, redactFields } from "./redact.ts";

const logChild = join(dirname(fileURLToPath(import.meta.url)), "testdata/log-child.ts");

/** A logger writing into memory, and the lines written so far, parsed. */
function capture(level: "debug" | "info" | "warn" | "error" = "info") {
  const stream = new PassThrough();
  let text = "";
  stream.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
  });
  const logger = createLogger({ level, component: "test", stream });
  const lines = (): Record<string, unknown>[] =>
    text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines };
}

test("a log line is one JSON object: timestamp, level, message, component, then the fields", () => {
  const { logger, lines } = capture();
  logger.info("Applied proxy config", { version: "abc", clusters: 2, draining: false });
  const [line] = lines();
  assert.ok(line);
  assert.deepEqual(Object.keys(line), [
    "timestamp",
    "level",
    "message",
    "component",
    "version",
    "clusters",
    "draining",
  ]);
  assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(line.level, "info");
  assert.equal(line.message, "Applied proxy config");
  assert.equal(line.component, "test");
  assert.equal(line.clusters, 2);
});

test("lines below the level are not written; child loggers share output and level", () => {
  const { logger, lines } = capture("warn");
  logger.info("Skipped info line");
  logger.debug("Skipped debug line");
  logger.warn("Ejected endpoint", { endpoint: "e1" });
  logger.child("listener").error("Failed to reload certificate");
  assert.deepEqual(
    lines().map((l) => [l.level, l.component, l.message]),
    [
      ["warn", "test", "Ejected endpoint"],
      ["error", "listener", "Failed to reload certificate"],
    ],
  );
});

test("a field named like a fixed key cannot overwrite it", () => {
  const line = JSON.parse(
    formatLogLine(new Date(0), "info", "Applied proxy config", "config", {
      level: "x",
      message: "y",
    }),
  ) as Record<string, unknown>;
  assert.equal(line.level, "info");
  assert.equal(line.message, "Applied proxy config");
  assert.equal(line["field.level"], "x");
  assert.equal(line["field.message"], "y");
});

test("isSensitiveName catches secret-looking names in any spelling and leaves ordinary ones", () => {
  for (const name of [
    "cookie",
    "Cookie",
    "set-cookie",
    "Set-Cookie",
    "authorization",
    "proxy-authorization",
    "Proxy-Authorization",
    "key",
    "privateKey",
    "private_key",
    "apikey",
    "secret",
    "clientSecret",
    "token",
    "x-auth-token",
    "sessionToken",
    "password",
    "db_password",
    "auth",
  ]) {
    assert.equal(isSensitiveName(name), true, name);
  }
  for (const name of [
    "route",
    "cluster",
    "endpoint",
    "host",
    "path",
    "version",
    "status",
    "author",
  ]) {
    assert.equal(isSensitiveName(name), false, name);
  }
});

test("redactFields blanks sensitive fields and PEM private keys, and copies only when it must", () => {
  const clean = { route: "r", status: 200 };
  assert.equal(redactFields(clean), clean);
  assert.deepEqual(
    redactFields({ route: "r", cookie: "a=b", detail: "-----BEGIN RSA PRIVATE KEY-----\nMII" }),
    { route: "r", cookie: REDACTED, detail: REDACTED },
  );
});

test("isLogLevel accepts the four levels only", () => {
  assert.ok(isLogLevel("debug"));
  assert.ok(!isLogLevel("verbose"));
});

test("a process's stdout never carries a cookie, authorization or key value logged by mistake", async () => {
  const child = spawn(process.execPath, [logChild], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0);

  const leaked = stdout.match(/[A-Z-]+-VALUE/g) ?? [];
  assert.deepEqual(leaked, [], "no secret value reached stdout");
  const lines = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2, "the info line and the access line; the debug line is filtered");
  const [log, access] = lines;
  assert.equal(log?.message, "Received request");
  assert.equal(log?.cookie, REDACTED);
  assert.equal(log?.authorization, REDACTED);
  assert.equal(log?.route, "default/web");
  // The access line, written by the exit hook although the process exited in the same turn.
  assert.equal(access?.component, "access");
  assert.equal(access?.path, "/app-1/items");
  assert.equal("headers" in (access ?? {}), false);
});
