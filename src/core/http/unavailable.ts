import { isDatabaseUnavailableError } from '../database/database-errors';
import { isRedisUnavailableError } from '../redis/redis-errors';

/** Seconds a client is told to wait before retrying while a dependency is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

export interface Unavailable {
  code: 'redis_unavailable' | 'database_unavailable';
  message: string;
}

/**
 * Which dependency an error says is away, if any: PostgreSQL or Redis connection errors become
 * 503 with a stable code and Retry-After (HTTP filter) or the same code in a socket ack, so no
 * service needs a try/catch of its own.
 */
export function unavailableDependency(err: unknown): Unavailable | undefined {
  if (isDatabaseUnavailableError(err))
    return { code: 'database_unavailable', message: 'The database is unreachable; retry after the time in Retry-After' };
  if (isRedisUnavailableError(err))
    return { code: 'redis_unavailable', message: 'Redis is unreachable; retry after the time in Retry-After' };
  return undefined;
}
