// Waiting: the one sleep and the one polling helper, for benchmarks and tests alike.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface EventuallyOptions<T> {
  /** When the value read is good enough; by default, when it is truthy. */
  until?: (value: T) => unknown;
  timeoutMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
  /** Pause between two reads: wider for reads that cost a request or count against a rate limit. */
  everyMs?: number;
}

/**
 * Reads `read` until its value passes `until` (by default: is truthy) and returns that value; fails
 * after `timeoutMs` naming `what` and the last value seen. An error thrown by `read` fails at once:
 * a check that throws is a broken check, not a condition that is not met yet.
 */
export async function eventually<T>(
  read: () => T | Promise<T>,
  options: EventuallyOptions<T> & Required<Pick<EventuallyOptions<T>, 'until'>>,
): Promise<T>;
export async function eventually<T>(read: () => T | Promise<T>, options?: Omit<EventuallyOptions<T>, 'until'>): Promise<NonNullable<T>>;
export async function eventually<T>(read: () => T | Promise<T>, options: EventuallyOptions<T> = {}): Promise<T> {
  const { until = Boolean, timeoutMs = 5000, what = 'condition', everyMs = 25 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (until(value)) return value;
    if (Date.now() > deadline) {
      const last = JSON.stringify(value)?.slice(0, 500);
      throw new Error(`${what} not met within ${timeoutMs} ms; last value: ${last}`);
    }
    await sleep(everyMs);
  }
}
