import type { SqlDatabase } from '../store/sql.js'

/**
 * One holder at a time per group key, across the await points of a request and across every
 * instance sharing the database: the decision "group into the open workflow or create one" and
 * the write that carries it out (committed with the request's audit entry, in onSend) happen
 * under the lock. So 20 identical snapshots at once make one workflow and 19 occurrences, never
 * 20 workflows. The locks are the database's (SqlDatabase.withLock): in this process for SQLite,
 * advisory locks for PostgreSQL.
 */
export class GroupLocks {
  constructor(private readonly db: Pick<SqlDatabase, 'withLock'>) {}

  /** Waits for every key (taken in sorted order, so two requests never wait on each other) and returns the release. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const releases: (() => void)[] = []
    try {
      for (const key of [...new Set(keys)].sort()) releases.push(await this.hold(`group:${key}`))
    } catch (err) {
      for (const release of releases) release()
      throw err
    }
    let released = false
    return () => {
      if (released) return
      released = true
      for (const release of releases) release()
    }
  }

  /** Takes the lock and keeps it until the returned function is called. */
  private hold(name: string): Promise<() => void> {
    return new Promise((taken, failed) => {
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      this.db
        .withLock(name, () => {
          taken(release)
          return held
        })
        .catch(failed)
    })
  }
}
