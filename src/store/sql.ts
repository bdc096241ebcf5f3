/**
 * The one way the stores talk to a database, whichever it is: SQLite (the embedded default,
 * better-sqlite3) or PostgreSQL (DATABASE_URL, node-postgres). The stores hold the business
 * logic once and speak SQL through this port; the adapters only run it.
 *
 * SQL text uses positional `?` parameters (the PostgreSQL adapter numbers them `$1, $2, …`), so
 * a statement must not contain a literal `?` of its own. Integers come back as JavaScript
 * numbers in both (PostgreSQL's int8 is parsed as a number: every count and seq here stays far
 * below 2^53).
 */
export type SqlValue = string | number | null

export type Dialect = 'sqlite' | 'postgres'

/** A connection, or one transaction on it. */
export interface SqlSession {
  readonly dialect: Dialect
  all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>
  get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>
}

export interface SqlDatabase extends SqlSession {
  /**
   * Runs `work` in one transaction: COMMIT when it resolves, ROLLBACK when it throws (and the
   * error goes on). SQLite runs one transaction at a time (a queue; the write lock is taken at
   * BEGIN); PostgreSQL gives each its own pooled connection. `work` must only use `tx`: a
   * statement on the database itself would run outside the transaction (and, on SQLite, wait
   * for it to end).
   */
  transaction<T>(work: (tx: SqlSession) => Promise<T>): Promise<T>
  /**
   * Runs `work` on one consistent read-only view of the database, whatever commits meanwhile
   * (SQLite: a deferred transaction, a WAL snapshot; PostgreSQL: REPEATABLE READ, READ ONLY).
   */
  snapshot<T>(work: (tx: SqlSession) => Promise<T>): Promise<T>
  /**
   * Runs `work` while holding the lock `name` across every instance that shares this database
   * (PostgreSQL: a session advisory lock on a connection of its own; SQLite, one instance per
   * DATA_DIR: a lock in this process). Waits for the lock; not reentrant. `work` can ask whether
   * the lock is still its own before it makes its result final (HeldLock).
   */
  withLock<T>(name: string, work: (lock: HeldLock) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** The shape of SqlDatabase.withLock, for code that takes only the lock (the remote-truth commit). */
export type WithLock = <T>(name: string, work: (lock: HeldLock) => Promise<T>) => Promise<T>

/**
 * A lock held by withLock's work. PostgreSQL drops a session's advisory locks with the session: if
 * the session holding it ends (a restart, a network cut), another instance may take the lock while
 * this work still runs. Work that makes something final under the lock asks first.
 */
export interface HeldLock {
  /** Throws StoreUnavailable (code "lock-lost") once the lock is known to be lost. */
  assertHeld(): void
}

/**
 * The database cannot serve this statement now — its connection is lost, the server restarts,
 * the disk is full, another writer holds it too long — but may again soon: the caller answers 503
 * with Retry-After, not 500. `code` is the driver's (SQLITE_FULL, ECONNREFUSED, 57P01, …).
 */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable'
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}
