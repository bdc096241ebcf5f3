/**
 * One holder at a time per group key, across the await points of a request: the decision
 * "group into the open workflow or create one" and the write that carries it out (committed
 * with the request's audit entry, in onSend) happen under the lock. So 20 identical snapshots at
 * once make one workflow and 19 occurrences, never 20 workflows.
 */
export class GroupLocks {
  private readonly tails = new Map<string, Promise<void>>()

  /** Waits for every key (taken in sorted order, so two requests never wait on each other) and returns the release. */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const releases: (() => void)[] = []
    for (const key of [...new Set(keys)].sort()) {
      const before = this.tails.get(key) ?? Promise.resolve()
      let release!: () => void
      const mine = new Promise<void>((resolve) => (release = resolve))
      const tail = before.then(() => mine)
      this.tails.set(key, tail)
      await before
      releases.push(() => {
        release()
        if (this.tails.get(key) === tail) this.tails.delete(key)
      })
    }
    let released = false
    return () => {
      if (released) return
      released = true
      for (const r of releases) r()
    }
  }
}
