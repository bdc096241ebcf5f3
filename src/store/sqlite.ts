import type { Statement } from 'better-sqlite3'
import { KeyedMutex } from './keyed-mutex.js'
import type { Db } from './database.js'
import { StoreUnavailable, type HeldLock, type SqlDatabase, type SqlSession, type SqlValue } from './sql.js'

/** One instance per DATA_DIR: a lock in this process cannot be lost while its holder runs. */
const IN_THIS_PROCESS: HeldLock = { assertHeld: () => undefined }

/** SQLite's codes for a database that cannot serve now but may soon (busy, I/O, full, cannot open); anything else is a bug. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|READONLY)/

function translated(err: unknown): unknown {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && UNAVAILABLE.test(code) ? new StoreUnavailable(code, (err as Error).message, { cause: err }) : err
}

/** Runs one statement; a transient failure becomes StoreUnavailable. */
function attempt<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run())
  } catch (err) {
    return Promise.reject(translated(err))
  }
}

/** Statements kept prepared: every statement the stores run is a constant text, so this stays small. */
const MAX_CACHED = 500

/**
 * The SQL port on the embedded SQLite database (better-sqlite3: every statement runs synchronously,
 * so each promise here is already settled when it is returned).
 *
 * One connection serves every request, so a transaction that awaits between its statements would
 * let another request's statements run inside it, and see its uncommitted rows. Hence a queue:
 * transactions, and statements outside them, run one after another. A transaction waits for
 * nothing but its own statements, so it holds the queue for microseconds.
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const
  private readonly statements = new Map<string, Statement>()
  /** the end of the last queued transaction; statements outside transactions wait for it */
  private tail: Promise<unknown> = Promise.resolve()
  /** one instance per DATA_DIR: the locks of this process are all there are */
  private readonly locks = new KeyedMutex()

  constructor(
    /** the better-sqlite3 handle: for what is SQLite's own (pragmas, the verify thread's file, tests) */
    readonly raw: Db,
  ) {}

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql)
    if (!statement) {
      if (this.statements.size >= MAX_CACHED) this.statements.clear()
      statement = this.raw.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  /** The session a transaction's work runs on: the same connection, inside BEGIN … COMMIT. */
  private readonly session: SqlSession = {
    dialect: 'sqlite',
    all: <Row>(sql: string, params: readonly SqlValue[] = []) => attempt(() => this.statement(sql).all(...params) as Row[]),
    get: <Row>(sql: string, params: readonly SqlValue[] = []) => attempt(() => this.statement(sql).get(...params) as Row | undefined),
    run: (sql: string, params: readonly SqlValue[] = []) => attempt(() => ({ changes: this.statement(sql).run(...params).changes })),
  }

  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    return this.raw.inTransaction ? this.tail.then(() => this.session.all<Row>(sql, params)) : this.session.all<Row>(sql, params)
  }

  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    return this.raw.inTransaction ? this.tail.then(() => this.session.get<Row>(sql, params)) : this.session.get<Row>(sql, params)
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.raw.inTransaction ? this.tail.then(() => this.session.run(sql, params)) : this.session.run(sql, params)
  }

  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    // IMMEDIATE: the write lock is taken at BEGIN, so what the work reads stays true until COMMIT
    return this.queued('BEGIN IMMEDIATE', work)
  }

  snapshot<T>(work: (tx: SqlSession) => Promise<T>): Promise<T> {
    // DEFERRED: no write lock (a read-only connection can take this one); the first read fixes the WAL snapshot
    return this.queued('BEGIN', work)
  }

  private queued<T>(begin: string, work: (tx: SqlSession) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        this.raw.exec(begin)
        const result = await work(this.session)
        this.raw.exec('COMMIT')
        return result
      } catch (err) {
        try {
          if (this.raw.inTransaction) this.raw.exec('ROLLBACK')
        } catch {
          // the work's error is the one to report; SQLite has ended the transaction itself when ROLLBACK fails (I/O, full)
        }
        throw translated(err)
      }
    }
    const result = this.tail.then(run, run)
    this.tail = result.catch(() => undefined)
    return result
  }

  withLock<T>(name: string, work: (lock: HeldLock) => Promise<T>): Promise<T> {
    return this.locks.run(name, () => work(IN_THIS_PROCESS))
  }

  close(): Promise<void> {
    if (this.raw.open) this.raw.close()
    return Promise.resolve()
  }
}
