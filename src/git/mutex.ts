import type { HeldLock } from '../store/sql.js'

/**
 * Serializes async work: each call waits for the previous one to settle. One per repository,
 * so concurrent commits queue instead of racing for git's index.lock or the branch ref.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work)
    this.tail = result.catch(() => undefined)
    return result
  }
}

/**
 * Runs `work` while holding the lock `name`, waiting for it first; not reentrant. The shape of
 * SqlDatabase.withLock (src/store/sql.ts): in this process with SQLite, an advisory lock that
 * every instance sharing the database honours with PostgreSQL.
 */
export type WithLock = <T>(name: string, work: (lock: HeldLock) => Promise<T>) => Promise<T>

