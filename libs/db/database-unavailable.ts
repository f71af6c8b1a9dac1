/** PostgreSQL cannot answer yet: unreachable, or its database or tables are still being created. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

// Prisma: P1001 can't reach, P1002 timed out, P1003 database does not exist, P1017 connection
// closed. PostgreSQL SQLSTATE: 08xxx connection exceptions, 57P01-57P03 shutdown/cannot connect
// now, 53300 too many connections, 3D000 database does not exist. Node socket codes.
const UNAVAILABLE_CODES = /^(P1001|P1002|P1003|P1017|08\d{3}|57P0[123]|53300|3D000|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN)$/;

// The driver adapter's classification (Prisma 7 puts it in `meta.driverAdapterError.cause.kind`).
// A missing table counts: the migration running in the background creates it (see
// BackgroundMigrations), so it is as temporary as a server restart.
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'DatabaseDoesNotExist', 'TableDoesNotExist', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);

// Text is the only signal left for some: pg and pg-pool throw codeless Errors ("Connection
// terminated unexpectedly", "timeout exceeded when trying to connect"), and Prisma's raw-query
// errors carry the driver's reason only in their message ("Code: `N/A`. Message: `Can't reach …`").
const UNAVAILABLE_MESSAGE =
  /Can't reach database server|Connection terminated|has closed the connection|connection error and is not queryable|timeout exceeded when trying to connect|the database system is (starting up|shutting down)|terminating connection|ECONNREFUSED|ECONNRESET/i;

/**
 * Whether `err` means PostgreSQL is not there to answer (down, restarting, connection cut, the
 * database or its tables not created yet), as opposed to a bad query or a bug. Looks through
 * `cause` chains and AggregateError members.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  return unavailable(err, 0);
}

/**
 * Whether `err` was raised by the database client (Prisma) or is a {@link DatabaseUnavailableError}:
 * lets a caller that sees errors of every kind (an HTTP error handler) tell a database outage
 * from, say, an upstream refusing connections, which carries the same socket codes.
 */
export function isDatabaseClientError(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return typeof name === 'string' && /^(PrismaClient\w*Error|DriverAdapterError)$/.test(name);
}

function unavailable(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: unknown; errorCode?: unknown; message?: unknown; meta?: unknown; cause?: unknown; errors?: unknown; originalCode?: unknown; kind?: unknown };
  // `errorCode`: PrismaClientInitializationError's P1xxx code.
  for (const code of [e.code, e.errorCode, e.originalCode]) if (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) return true;
  if (typeof e.kind === 'string' && UNAVAILABLE_KINDS.has(e.kind)) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  const adapterCause = (e.meta as { driverAdapterError?: { cause?: unknown } } | undefined)?.driverAdapterError?.cause;
  const nested = [adapterCause, e.cause, ...(Array.isArray(e.errors) ? e.errors : [])];
  return nested.some((inner) => unavailable(inner, depth + 1));
}
