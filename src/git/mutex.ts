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
 * SqlDatabase.withLock (src/store/sql.ts): with PostgreSQL it is an advisory lock that every
 * instance sharing the database honours.
 */
export type WithLock = <T>(name: string, work: () => Promise<T>) => Promise<T>

/**
 * A WithLock for one process: a Mutex per name, dropped again once nothing holds or waits for it
 * (so names do not pile up). It locks out only the callers in this process.
 */
export function inProcessLocks(): WithLock {
  const held = new Map<string, { mutex: Mutex; users: number }>()
  return async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    let entry = held.get(name)
    if (!entry) held.set(name, (entry = { mutex: new Mutex(), users: 0 }))
    entry.users++
    try {
      return await entry.mutex.run(work)
    } finally {
      if (--entry.users === 0) held.delete(name)
    }
  }
}
