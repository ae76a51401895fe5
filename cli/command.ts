// What a subcommand is to the entry point (bin/portcullis.ts): a name, a one-line summary for the
// top-level help, a usage text, and a run function that returns the exit status.

/** The streams a command writes to (replaceable in tests). */
export interface CommandIo {
  /** Results: problems (check) or the configuration (compile). */
  stdout: NodeJS.WritableStream;
  /** Summary lines and reports that must not mix with results. */
  stderr: NodeJS.WritableStream;
}

/** A subcommand of `portcullis`. */
export interface Command {
  /** The word after `portcullis`. */
  name: string;
  /** One line for `portcullis --help`. */
  summary: string;
  /** Full help, printed by `portcullis NAME --help`. */
  usage: () => string;
  /** Runs with the arguments after the command name; resolves to the exit status. Throws PortcullisCliError. */
  run: (args: readonly string[], io: CommandIo) => Promise<number>;
}
