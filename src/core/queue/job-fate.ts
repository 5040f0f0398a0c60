import { UnrecoverableError, Worker } from 'bullmq';

/** What became of a job's work, in the terms that decide what BullMQ does with the job next. */
export interface JobFate {
  /** No retry can help (refused credentials, an invalid payload): fail the job for good with this message. */
  fatal?: string;
  /** Over a provider's quota: hold this worker off for this long, then run the job again (no attempt used up). */
  pauseMs?: number;
  /** Part of the work failed transiently: fail this attempt with this message; BullMQ retries with backoff. */
  retry?: string;
}

/**
 * Ends a job as its fate says, by throwing what BullMQ acts on: UnrecoverableError, the worker's
 * rate limit with RateLimitError, or a plain error to retry. Returns when nothing is left to do.
 * A fatal failure wins over a quota pause, a pause over a retry.
 */
export async function settleJob(worker: Worker, fate: JobFate): Promise<void> {
  if (fate.fatal) throw new UnrecoverableError(fate.fatal);
  if (fate.pauseMs !== undefined) {
    await worker.rateLimit(fate.pauseMs);
    throw Worker.RateLimitError();
  }
  if (fate.retry) throw new Error(fate.retry);
}
