// The errors the infrastructure builder throws. None of them comes from a user's objects (the compiler
// has already turned those into conditions): they mean the operator's settings are wrong, or the
// config and Secrets handed over do not belong together, and nothing should be applied. Each has a
// stable `code`. Messages name Secrets and keys, never their contents.

/** Base class of every error the builder throws. */
export class InfraError extends Error {
  /** Stable identifier, "PORTCULLIS_INFRA_*". */
  readonly code: string = "PORTCULLIS_INFRA_ERROR";

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InfraError";
  }
}

/** The settings are invalid; `problems` lists every one found, each naming the setting. */
export class InvalidInfraSettingsError extends InfraError {
  override readonly code = "PORTCULLIS_INFRA_INVALID_SETTINGS";
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid proxy infrastructure settings: ${problems.join("; ")}`);
    this.name = "InvalidInfraSettingsError";
    this.problems = problems;
  }
}

/** The config is not what the compiler produces: stale version, or files where no volume can go. */
export class InvalidInfraConfigError extends InfraError {
  override readonly code = "PORTCULLIS_INFRA_INVALID_CONFIG";

  constructor(message: string) {
    super(message);
    this.name = "InvalidInfraConfigError";
  }
}

/** A Secret the config references was not handed over, or lacks a key the config needs. */
export class MissingSecretError extends InfraError {
  override readonly code = "PORTCULLIS_INFRA_MISSING_SECRET";

  constructor(message: string) {
    super(message);
    this.name = "MissingSecretError";
  }
}

/** config.json does not fit in a ConfigMap (1 MiB of data), even without indentation. */
export class ConfigTooLargeError extends InfraError {
  override readonly code = "PORTCULLIS_INFRA_CONFIG_TOO_LARGE";
  /** Bytes of the compact JSON. */
  readonly bytes: number;

  constructor(bytes: number, limit: number) {
    super(`config.json is ${bytes} bytes; a ConfigMap holds at most ${limit}`);
    this.name = "ConfigTooLargeError";
    this.bytes = bytes;
  }
}

/** The owner reference would be invalid: a field is empty, or a namespaced owner is elsewhere. */
export class InvalidOwnerError extends InfraError {
  override readonly code = "PORTCULLIS_INFRA_INVALID_OWNER";

  constructor(message: string) {
    super(message);
    this.name = "InvalidOwnerError";
  }
}
