import pg from 'pg'
import { numberedPlaceholders } from './postgres-placeholders.js'
import { KeyedMutex } from './keyed-mutex.js'
import { isConnectionError } from './postgres-errors.js'
import { LockSession } from './postgres-locks.js'
import { StoreUnavailable, type HeldLock, type SqlDatabase, type SqlSession, type SqlValue } from './sql.js'

export interface PostgresOptions {
  /** connections for statements and transactions; every advisory lock of the instance is held on one more session of its own */
  poolSize: number
  /** PostgreSQL cancels a statement that runs longer (0: the server's own statement_timeout); waiting for an advisory lock is never cut short */
  statementTimeoutMs: number
  /**
   * Told about connection failures no caller sees: an idle pooled connection that died (the pool
   * replaces it), or the connection of a held lock lost while its work ran (PostgreSQL released
   * the lock then, so another instance may have taken it). For logging.
   */
  onBackgroundError?: (err: Error) => void
}

/** A database that does not answer is reported (503) instead of holding requests until the OS gives up. */
const CONNECT_TIMEOUT_MS = 5_000
/** TCP keep-alive probes start after this much silence on a connection */
const KEEP_ALIVE_AFTER_MS = 10_000

/** Shown in pg_stat_activity, so an operator can tell the service's sessions apart. */
const APPLICATION_NAME = 'auto-feature-builder'

const INT8_OID = 20

/** Every count and seq stays far below 2^53; a bigger one would come back silently rounded, so it fails instead. */
function int8AsNumber(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new RangeError(`int8 ${text} is beyond 2^53: a JavaScript number cannot hold it exactly`)
  return value
}

/** Per pool, not pg.types.setTypeParser: that would change every other pg user in the process too. */
function portTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides()
  types.setTypeParser(INT8_OID, int8AsNumber)
  return types
}

/** generated stored columns (the audit's filter columns) came in 12 */
const OLDEST_SERVER = 120000

/**
 * Opens a pool on `url` (postgres://…) and makes one connection, so a wrong address, password or
 * server version stops start-up instead of failing the first request.
 */
export async function openPostgres(url: string, options: PostgresOptions): Promise<SqlDatabase> {
  const db = new PostgresDatabase(url, options)
  try {
    const server = await db.get<{ version: number }>("SELECT current_setting('server_version_num')::integer AS version")
    if (server === undefined || server.version < OLDEST_SERVER) {
      throw new Error(`PostgreSQL ${server?.version ?? 'unknown'} is too old: auto-feature-builder needs 12 or newer (server_version_num ${OLDEST_SERVER})`)
    }
  } catch (err) {
    await db.close()
    throw err
  }
  return db
}

type Queryable = pg.Pool | pg.PoolClient

/**
 * SQLSTATEs of a database that is busy or short of something now, not of a wrong statement: a
 * statement cancelled by its timeout (57014), a serialization failure or deadlock (40001, 40P01),
 * a lock not available (55P03), insufficient resources: disk, memory, connections (53xxx).
 */
const PASSING = /^(57014|40001|40P01|55P03|53\d{3})$/

/**
 * A database that cannot be reached becomes StoreUnavailable (a 503); any other error is passed on
 * as it is. A FATAL error ends the session whatever its code (e.g. 55000 "database is not
 * currently accepting connections" while it is being restarted or closed to connections).
 */
function translated(err: unknown, connecting = false): unknown {
  if (err instanceof StoreUnavailable) return err
  const fatal = (err as { severity?: unknown }).severity === 'FATAL'
  const code = (err as { code?: unknown }).code
  const passing = typeof code === 'string' && PASSING.test(code)
  if (!connecting && !fatal && !passing && !isConnectionError(err)) return err
  return new StoreUnavailable(typeof code === 'string' ? code : 'connection', (err as Error).message, { cause: err })
}

/** A pooled connection, or StoreUnavailable when none can be made. */
async function connect(pool: pg.Pool): Promise<pg.PoolClient> {
  try {
    return await pool.connect()
  } catch (err) {
    // whatever stops a connection from being made (refused, unreachable, closed to connections, a wrong password) is the store being unavailable
    throw translated(err, true)
  }
}

async function query(on: Queryable, sql: string, params: readonly SqlValue[] | undefined): Promise<pg.QueryResult> {
  // without parameters, node-postgres sends the simple query protocol, which also runs a migration's several statements
  try {
    return await on.query(numberedPlaceholders(sql), params as SqlValue[] | undefined)
  } catch (err) {
    throw translated(err)
  }
}

function sessionOn(on: () => Queryable): SqlSession {
  return {
    dialect: 'postgres',
    all: async <Row>(sql: string, params?: readonly SqlValue[]) => (await query(on(), sql, params)).rows as Row[],
    get: async <Row>(sql: string, params?: readonly SqlValue[]) => (await query(on(), sql, params)).rows[0] as Row | undefined,
    run: async (sql: string, params?: readonly SqlValue[]) => {
      const result = await query(on(), sql, params)
      return { changes: result.rowCount ?? 0 }
    },
  }
}

/**
 * A pooled connection checked out for a transaction or a lock. While checked out, the pool does not
 * listen for its errors, and an 'error' event nobody listens to ends the process: so it is listened
 * to here, and a connection that failed goes back to the pool with its error, which destroys it.
 */
class CheckedOut {
  failure: Error | undefined
  private readonly onError = (err: Error) => {
    this.failure ??= err
  }

  constructor(readonly client: pg.PoolClient) {
    client.on('error', this.onError)
  }

  failed(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err))
  }

  release(): void {
    this.client.removeListener('error', this.onError)
    this.client.release(this.failure)
  }
}

class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const
  private readonly pool: pg.Pool
  /** every advisory lock of this instance, on one session of its own (see LockSession) */
  private readonly locks: LockSession
  /** in-process waiters for a lock queue here, not on connections of their own */
  private readonly lockQueues = new KeyedMutex()
  private readonly session: SqlSession
  private readonly reportBackgroundError: (err: Error) => void
  private closed: Promise<void> | undefined

  constructor(url: string, options: PostgresOptions) {
    const common: pg.PoolConfig = {
      connectionString: url,
      max: options.poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // a connection cut without a word (a network partition) is found out within about a minute, not the OS's two hours
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEP_ALIVE_AFTER_MS,
      application_name: APPLICATION_NAME,
      types: portTypes(),
    }
    this.pool = new pg.Pool({ ...common, statement_timeout: options.statementTimeoutMs })
    // above all the lock session: a lock on a dead session is a lock another instance can take
    this.locks = new LockSession(
      { connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true, keepAliveInitialDelayMillis: KEEP_ALIVE_AFTER_MS, application_name: APPLICATION_NAME },
      translated,
    )
    this.reportBackgroundError = (err: Error) => options.onBackgroundError?.(err)
    this.pool.on('error', this.reportBackgroundError)
    this.session = sessionOn(() => this.pool)
  }

  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.session.all<Row>(sql, params)
  }

  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.session.get<Row>(sql, params)
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.session.run(sql, params)
  }

  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    return this.within('BEGIN', work)
  }

  snapshot<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    // one view of the data for every statement of `work`, however many commits land meanwhile
    return this.within('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', work)
  }

  private async within<T>(begin: string, work: (tx: SqlSession) => Promise<T>): Promise<T> {
    const connection = new CheckedOut(await connect(this.pool))
    let ended = false
    // A statement `work` forgot to await could otherwise run after COMMIT, on a connection another request has by then.
    const tx = sessionOn(() => {
      if (ended) throw new Error('A statement was sent on a transaction that had already ended; await every statement inside transaction()')
      return connection.client
    })
    try {
      await query(connection.client, begin, undefined)
      const result = await work(tx)
      await query(connection.client, 'COMMIT', undefined)
      return result
    } catch (err) {
      // after a failed COMMIT there is no transaction left: ROLLBACK then only warns
      await connection.client.query('ROLLBACK').catch((rollbackErr: unknown) => connection.failed(rollbackErr))
      throw translated(err)
    } finally {
      ended = true
      connection.release()
    }
  }

  withLock<T>(name: string, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    return this.lockQueues.run(name, () => this.holdingAdvisoryLock(name, work))
  }

  /** A session lock: PostgreSQL drops it with the session, so a crashed instance never leaves it held. */
  private async holdingAdvisoryLock<T>(name: string, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    const generation = await this.locks.take(name)
    const lock: HeldLock = {
      assertHeld: () => {
        if (!this.locks.holds(generation)) {
          throw new StoreUnavailable('lock-lost', `The database session holding the lock "${name}" ended, so another instance may hold it now; nothing was made final under it`)
        }
      },
    }
    try {
      return await work(lock)
    } finally {
      if (!(await this.locks.give(name, generation))) {
        this.reportBackgroundError(new Error(`The connection holding the lock "${name}" was lost while its work ran`))
      }
    }
  }

  close(): Promise<void> {
    this.closed ??= Promise.all([this.pool.end(), this.locks.close()]).then(() => undefined)
    return this.closed
  }
}
