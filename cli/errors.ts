// The one catalogue of errors the command line throws. Each has a stable `code` (scripts may match
// on it) and the process exit status it leads to. Problems found in the user's manifests are not
// errors in this sense: they are reported as data (cli/problems.ts) and never thrown.

/** Exit status: every input was read and no error was found. */
export const EXIT_OK = 0;
/** Exit status: problems were found in the input (or the output could not be produced). */
export const EXIT_PROBLEMS = 1;
/** Exit status: the command line itself was wrong. */
export const EXIT_USAGE = 2;
/** Exit status: a bug in Portcullis (EX_SOFTWARE from sysexits.h). */
export const EXIT_INTERNAL = 70;

/** Base class of every error the CLI throws on purpose. */
export class PortcullisCliError extends Error {
  /** Stable identifier, "PORTCULLIS_CLI_*". */
  readonly code: string = "PORTCULLIS_CLI_ERROR";
  /** Process exit status this error leads to. */
  readonly exitCode: number = EXIT_PROBLEMS;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PortcullisCliError";
  }
}

/** The command line is malformed: unknown option, missing argument. Exit status 2. */
export class UsageError extends PortcullisCliError {
  override readonly code: string = "PORTCULLIS_CLI_USAGE";
  override readonly exitCode: number = EXIT_USAGE;
  /** The command whose usage text should be suggested, if any. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** The first argument names no command. Exit status 2. */
export class UnknownCommandError extends UsageError {
  override readonly code = "PORTCULLIS_CLI_UNKNOWN_COMMAND";

  constructor(command: string) {
    super(`unknown command "${command}"`);
    this.name = "UnknownCommandError";
  }
}

/** An option has a value it cannot take (a date that does not parse, an unknown format). Exit status 2. */
export class InvalidOptionValueError extends UsageError {
  override readonly code = "PORTCULLIS_CLI_INVALID_OPTION_VALUE";

  constructor(option: string, value: string, expected: string, command?: string) {
    super(`option --${option}: invalid value "${value}": ${expected}`, command);
    this.name = "InvalidOptionValueError";
  }
}

/** `compile` was asked to build from manifests some of which could not be read. Exit status 1. */
export class UnreadableInputError extends PortcullisCliError {
  override readonly code = "PORTCULLIS_CLI_UNREADABLE_INPUT";

  constructor(count: number) {
    super(
      `${count} ${count === 1 ? "manifest problem" : "manifest problems"} (listed above) ` +
        "make the input ambiguous; no configuration was printed",
    );
    this.name = "UnreadableInputError";
  }
}

/** The compiler produced a configuration the proxy would refuse: a bug in Portcullis. Exit status 70. */
export class InvalidConfigError extends PortcullisCliError {
  override readonly code = "PORTCULLIS_CLI_INVALID_CONFIG";
  override readonly exitCode = EXIT_INTERNAL;
  /** What validateProxyConfig reported. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(
      `the compiled configuration failed validation (a bug in Portcullis; please report it):\n  ${problems.join("\n  ")}`,
    );
    this.name = "InvalidConfigError";
    this.problems = problems;
  }
}
