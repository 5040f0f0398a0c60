/** An answer of Tether in its one error shape ({statusCode, code, message, details?}). */
export class TetherHttpError extends Error {
  readonly name = 'TetherHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** From `Retry-After` (429, 503, 409 idempotency_key_in_progress), in milliseconds. */
    readonly retryAfterMs?: number,
    readonly details?: unknown,
    readonly body?: unknown,
  ) {
    super(message);
  }

  /** Worth sending again later as is: the server was unavailable, busy or rate limiting. */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429 || this.code === 'idempotency_key_in_progress';
  }
}

/** The request never got an answer (offline, refused, reset, timed out). Always retryable. */
export class TetherNetworkError extends Error {
  readonly name = 'TetherNetworkError';
  readonly retryable = true;
  constructor(
    message: string,
    readonly cause?: unknown,
  ) {
    super(message);
  }
}

export function isRetryable(err: unknown): boolean {
  return (err instanceof TetherHttpError || err instanceof TetherNetworkError) && err.retryable;
}
