/**
 * Serializes async work per key in this process: each call waits for the previous one with the
 * same key to settle; different keys do not wait for each other. A key's entry goes when its last
 * holder is done, so keys that come and go (group keys) leave nothing behind.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve()
    const result = before.then(work)
    const settled = result.catch(() => undefined)
    this.tails.set(key, settled)
    void settled.then(() => {
      if (this.tails.get(key) === settled) this.tails.delete(key)
    })
    return result
  }
}
