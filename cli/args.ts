// Command-line parsing every command shares. Kept apart from options.ts, which brings in the compiler:
// the data-plane commands (`proxy`, `config-sync`) load this alone, so their processes do not carry
// the compiler, admission and CEL in memory (about 14 MiB of the proxy supervisor's heap).
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** An option definition as node:util parseArgs takes it. */
export type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };

/**
 * parseArgs in strict mode with positionals, its errors turned into UsageError so that every
 * mistake on the command line exits with status 2 and names the command.
 */
export function parseCommandArgs<const O extends Record<string, OptionSpec>>(
  args: readonly string[],
  options: O,
  command: string,
) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ""), command);
  }
}
