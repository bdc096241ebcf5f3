/**
 * Which failures mean "the database cannot be reached right now" (answer 503 and let the caller
 * retry), as opposed to a statement that is wrong (a bug, 500) or a refused write (a constraint).
 */

/** Node's socket errors, and PostgreSQL's SQLSTATEs for a server that is going away or full. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown: the server is stopping, or pg_terminate_backend
  '57P02', // crash_shutdown: another backend crashed, every session is reset
  '57P03', // cannot_connect_now: starting up, shutting down, in recovery
  '53300', // too_many_connections
])

/** Class 08: connection exception. */
const CONNECTION_EXCEPTION = /^08[0-9A-Z]{3}$/

/** node-postgres' own errors for a connection that broke or never came, and a pool already closed. */
const UNREACHABLE_MESSAGES = [
  /^Connection terminated/, // "… unexpectedly", "… due to connection timeout"
  /^timeout exceeded when trying to connect/, // no pooled connection freed up in time
  /^Client has encountered a connection error and is not queryable/,
  /^Cannot use a pool after calling end on the pool/, // the service is shutting down
]

export function isConnectionError(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || CONNECTION_EXCEPTION.test(code))) return true
  if (UNREACHABLE_MESSAGES.some((message) => message.test(err.message))) return true
  // "localhost" has two addresses: Node reports both refusals as one AggregateError
  if (err instanceof AggregateError && err.errors.some((inner) => isConnectionError(inner, depth + 1))) return true
  return isConnectionError(err.cause, depth + 1)
}
