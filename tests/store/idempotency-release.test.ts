import { afterEach, describe, expect, it, vi } from 'vitest'
import { IdempotencyStore } from '../../src/idempotency/store.js'
import { openPostgres } from '../../src/store/postgres.js'
import { migratePostgres } from '../../src/store/postgres-migrate.js'
import type { SqlDatabase } from '../../src/store/sql.js'
import { reachable } from '../helpers/cluster.js'
import { freshPostgres, type FreshPostgres } from '../helpers/postgres.js'

/**
 * A request that fails because the database went away must let its Idempotency-Key go once the
 * database is back: otherwise the sender's retry meets "in progress" until the ten-minute lease ends.
 */

const opened: { db: SqlDatabase; store: IdempotencyStore }[] = []
const databases: FreshPostgres[] = []
afterEach(async () => {
  for (const { db, store } of opened.splice(0)) {
    store.stopRetries()
    await db.close()
  }
  for (const database of databases.splice(0)) await database.drop()
})

describe('releasing an Idempotency-Key while the database is away', () => {
  it('when the release fails because the database cannot be reached, then it is tried again until the key is free', async () => {
    const database = await freshPostgres()
    databases.push(database)
    const db = await openPostgres(database.url, { poolSize: 2, statementTimeoutMs: 5_000 })
    await migratePostgres(db)
    const store = new IdempotencyStore(db, 24 * 3_600_000)
    opened.push({ db, store })
    const claim = await store.reserve('scope', 'key-1', 'fingerprint')
    expect(claim.kind).toBe('reserved')
    const claimedAt = claim.kind === 'reserved' ? claim.claimedAt : 0

    await reachable(database.url, false)
    await expect(store.release('scope', 'key-1', claimedAt)).rejects.toThrow() // as the request's own release fails
    await store.releaseEventually('scope', 'key-1', claimedAt) // does not throw: it is left to the retries
    await reachable(database.url, true)

    await vi.waitFor(async () => expect(await db.all('SELECT key FROM idempotency_keys')).toEqual([]), { timeout: 10_000, interval: 200 })
    expect((await store.reserve('scope', 'key-1', 'fingerprint')).kind).toBe('reserved')
  })
})
