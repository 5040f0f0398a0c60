/** Raised by Tether itself when Redis did not answer in time (RedisService.within). */
export class RedisUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnavailableError';
  }
}

// What ioredis (and BullMQ through it) rejects commands with while Redis is away.
const MESSAGES = [
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'Reached the max retries per request limit',
];

/**
 * True for the errors a command gets because Redis cannot be reached (not for Redis answering
 * with an error, e.g. WRONGTYPE): MaxRetriesPerRequestError, "Connection is closed", "Stream isn't
 * writeable", command timeouts, and RedisUnavailableError. A MULTI whose commands failed that
 * way (EXECABORT with such a cause in `previousErrors`) counts too.
 */
export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof RedisUnavailableError || err.name === 'MaxRetriesPerRequestError') return true;
  if (MESSAGES.some((m) => err.message.startsWith(m))) return true;
  const previous = (err as { previousErrors?: unknown[] }).previousErrors;
  return Array.isArray(previous) && previous.some(isRedisUnavailableError);
}
