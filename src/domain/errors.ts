/**
 * Errors that cross module boundaries. Each carries what a caller needs to answer a
 * user: the CLI prints `message` and exits non-zero, the admin API maps the class to an
 * HTTP status (Validation 400, NotFound 404, Conflict 409), later SMTP/IMAP map them to
 * their own reply codes.
 */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  /**
   * @param field which input was wrong (e.g. `idNat`, `address`)
   * @param rule short machine-readable id of the rule that failed (e.g. `rpps.luhn`)
   * @param message human sentence naming the rule, safe to show to the user
   */
  constructor(
    readonly field: string,
    readonly rule: string,
    message: string,
  ) {
    super(message);
  }
}

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** The request is well-formed but the current state forbids it (closed BAL, duplicate address…). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super(message);
  }
}
