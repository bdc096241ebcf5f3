import type { HeldLock, SqlDatabase } from '../store/sql.js'

/** The group locks of one request, until its writes are committed. */
export interface GroupHold {
  /** Throws StoreUnavailable when one of the locks was lost meanwhile (see HeldLock): the writes must not commit. */
  assertHeld(): void
  release(): void
}

/** What a request offers a hold: run a check inside its transaction just before COMMIT, and a release after it. */
export interface CommittingRequest {
  beforeCommit(check: () => void): void
  afterCommit(done: () => void): void
}

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

  /**
   * Holds every key until `request`'s writes are committed, and refuses the commit if a lock was
   * lost before it (another instance may have decided for the group meanwhile: a 503, retried).
   */
  async holdUntilCommitted(request: CommittingRequest, keys: readonly string[]): Promise<void> {
    const hold = await this.acquire(keys)
    request.beforeCommit(() => hold.assertHeld())
    request.afterCommit(() => hold.release())
  }

  /** Waits for every key (taken in sorted order, so two requests never wait on each other). */
  private async acquire(keys: readonly string[]): Promise<GroupHold> {
    const held: { lock: HeldLock; release: () => void }[] = []
    try {
      for (const key of [...new Set(keys)].sort()) held.push(await this.hold(`group:${key}`))
    } catch (err) {
      for (const { release } of held) release()
      throw err
    }
    let released = false
    return {
      assertHeld: () => {
        for (const { lock } of held) lock.assertHeld()
      },
      release: () => {
        if (released) return
        released = true
        for (const { release } of held) release()
      },
    }
  }

  /** Takes the lock and keeps it until the returned release is called. */
  private hold(name: string): Promise<{ lock: HeldLock; release: () => void }> {
    return new Promise((taken, failed) => {
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      this.db
        .withLock(name, (lock) => {
          taken({ lock, release })
          return held
        })
        .catch(failed)
    })
  }
}
