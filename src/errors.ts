/** The call was wrong: unknown flag, bad value, no project found, target not empty. */
export class UsageError extends Error {
  readonly exitCode = 2
}

/** The work itself failed: an install, a child that could not start, an undetected abort. */
export class WorkError extends Error {
  readonly exitCode = 1
}

export type CliError = UsageError | WorkError

export function isCliError(error: unknown): error is CliError {
  return error instanceof UsageError || error instanceof WorkError
}
