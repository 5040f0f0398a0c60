// What pg, pg-pool and TypeORM raise when PostgreSQL cannot be reached or drops the connection.
const MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'terminating connection due to administrator command',
  'the database system is starting up',
  'the database system is shutting down',
  'the database system is in recovery mode',
];
/** SQLSTATEs: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections; class 08 below. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Socket errors of a connection to PostgreSQL (pg-pool rejects with them unwrapped). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True for errors that mean "PostgreSQL is away or dropped us", not "the query was wrong": the
 * error itself, TypeORM's `driverError` or a `cause`, one level deep each.
 */
export function isDatabaseUnavailableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const check = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 3) return false;
    seen.add(e);
    const { code, message, syscall, driverError, cause } = e as {
      code?: unknown;
      message?: unknown;
      syscall?: unknown;
      driverError?: unknown;
      cause?: unknown;
    };
    if (typeof code === 'string' && (SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (typeof code === 'string' && SOCKET_CODES.has(code) && typeof syscall === 'string') return true;
    if (typeof message === 'string' && MESSAGES.some((m) => message.startsWith(m))) return true;
    return check(driverError, depth + 1) || check(cause, depth + 1);
  };
  return check(err, 0);
}
