import type { Job } from 'bullmq';

/** One failed job as operators see it: what failed and why, never the secrets or personal data it carries. */
export interface FailedJobView {
  id: string;
  name: string;
  failedReason: string;
  attemptsMade: number;
  /** Attempts the job was given (1 when it has no retries). */
  attempts: number;
  createdAt: string;
  processedAt: string | null;
  failedAt: string | null;
  /** The job's data, summarized: see summarizeJobData. */
  data: Record<string, string | number | boolean | null>;
}

/** Keys whose values are never shown (push tokens, credentials). */
const SECRET_KEY = /token|secret|password|passwd|credential|authorization|apikey|api_key|private|cookie|session/i;
const MAX_KEYS = 20;
const MAX_STRING = 64;
const MAX_REASON = 500;

function trim(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A job's data as the failures view shows it: top-level scalars (ids, counts, flags), strings
 * trimmed; arrays and objects only described (`array(3)`, `object(title, body)`), since they hold
 * device ids, token lists or a push's text; keys that name a secret (`tokens`, `apiKey`...) redacted.
 */
export function summarizeJobData(data: unknown): Record<string, string | number | boolean | null> {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data === undefined ? {} : { value: describe(data) };
  const out: Record<string, string | number | boolean | null> = {};
  const entries = Object.entries(data as Record<string, unknown>);
  for (const [key, value] of entries.slice(0, MAX_KEYS)) out[key] = SECRET_KEY.test(key) ? '[redacted]' : describe(value);
  if (entries.length > MAX_KEYS) out['…'] = `${entries.length - MAX_KEYS} more keys`;
  return out;
}

function describe(value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return trim(value, MAX_STRING);
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === 'object') return trim(`object(${Object.keys(value).join(', ')})`, MAX_STRING);
  return typeof value;
}

const iso = (ms: number | undefined | null) => (ms ? new Date(ms).toISOString() : null);

export function failedJobView(job: Job): FailedJobView {
  return {
    id: String(job.id),
    name: job.name,
    failedReason: trim(job.failedReason ?? '', MAX_REASON),
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    createdAt: iso(job.timestamp)!,
    processedAt: iso(job.processedOn),
    failedAt: iso(job.finishedOn),
    data: summarizeJobData(job.data),
  };
}

/** Why a job named in a retry or clean request was left alone. */
export interface SkippedJob {
  jobId: string;
  reason: 'not_found' | 'not_failed';
}
