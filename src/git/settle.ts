/**
 * Promise.all, but waits for every promise before throwing the first failure. Work on the
 * quarantine must not go on after the caller has given up: its cleanup removes the folder those
 * writes are still creating files in (rm then fails with ENOTEMPTY, replacing the real error).
 */
export async function allSettledOrThrow<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T
}
