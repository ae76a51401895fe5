#!/usr/bin/env node
// The `portcullis` command. All the work is in cli/; this file only binds it to the process.
import { armEarlySignals } from "../cli/early-signals.ts";

// First, before the (about one second) load of the CLI: see cli/early-signals.ts.
armEarlySignals();
const { EXIT_INTERNAL } = await import("../cli/errors.ts");
const { main } = await import("../cli/main.ts");

// A reader that goes away (`portcullis compile . | head`) is not an error worth a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(process.exitCode ?? 0);
});

try {
  process.exitCode = await main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
  });
} catch (error) {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`portcullis: internal error (a bug; please report it):\n${detail}\n`);
  process.exitCode = EXIT_INTERNAL;
}
