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
