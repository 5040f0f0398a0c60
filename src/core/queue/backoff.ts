/**
 * Exponential backoff with jitter, the shape BullMQ's `exponential` backoff has: attempt 1 waits
 * about `baseMs`, each later one twice as long, capped at `maxMs`; `jitter` (0..1) takes up to that
 * fraction off at random, so that retries of many jobs do not land at the same instant.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs = 60_000, jitter = 0.5, random = Math.random): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (1 - jitter * random()));
}

/** BullMQ job options for retries with this module's backoff. */
export function retryOptions(attempts: number, baseMs: number) {
  return { attempts, backoff: { type: 'exponential' as const, delay: baseMs, jitter: 0.5 } };
}
