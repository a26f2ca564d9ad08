// The one error type a user can meet: a stable code, what was wrong and where, and how to fix it.
// The CLI prints these without a stack trace and exits with `exitCode`.

export class FleetError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly exitCode: number;

  constructor(
    code: string,
    message: string,
    options: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'FleetError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 2;
  }
}
