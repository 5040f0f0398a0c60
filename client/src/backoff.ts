export interface BackoffOptions {
  /** The ceiling of the first delay (default 500 ms). */
  initialDelayMs?: number;
  /** No delay is ever longer (default 30 s). */
  maxDelayMs?: number;
  /** Growth of the ceiling per attempt (default 2). */
  factor?: number;
}

/**
 * Exponential backoff with full jitter (AWS's "Exponential Backoff and Jitter"): attempt n waits a
 * uniformly random time in [0, min(max, initial * factor^n)], so clients that lost a pod together do
 * not come back together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialDelayMs = 500, maxDelayMs = 30_000, factor = 2 } = options;
  const ceiling = Math.min(maxDelayMs, initialDelayMs * Math.pow(factor, Math.max(0, attempt)));
  return Math.floor(random() * ceiling);
}

/** Counts attempts; `next()` is the delay before the next one, `reset()` after a success. */
export class Backoff {
  attempt = 0;

  constructor(
    private readonly options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    return backoffDelay(this.attempt++, this.options, this.random);
  }

  reset(): void {
    this.attempt = 0;
  }
}
