import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SharedRequestCounter } from '../../src/http/shared-request-counter.js'
import { openPostgres } from '../../src/store/postgres.js'
import { migratePostgres } from '../../src/store/postgres-migrate.js'
import { countRequest, forgetEndedWindows } from '../../src/store/request-counts.js'
import type { SqlDatabase } from '../../src/store/sql.js'
import type { TestApp } from '../helpers/app.js'
import { clusters } from '../helpers/cluster.js'

/**
 * RATE_LIMIT_MAX with several instances on one PostgreSQL: a caller's budget is the cluster's,
 * not each instance's (N instances must not mean N times the allowance).
 */

const cluster = clusters()
const opened: SqlDatabase[] = []
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close()
})

/** Two instances on one fresh database and one bare remote, as in production. */
async function twoInstances(env: Record<string, string>): Promise<{ a: TestApp; b: TestApp; url: string }> {
  const {
    apps: [a, b],
    url,
  } = await cluster.start(2, env)
  return { a: a!, b: b!, url }
}

async function openDb(url: string): Promise<SqlDatabase> {
  const db = await openPostgres(url, { poolSize: 2, statementTimeoutMs: 5_000 })
  opened.push(db)
  return db
}

const countsIn = (db: SqlDatabase) => db.all<{ bucket: string; count: number }>('SELECT bucket, count FROM request_counts ORDER BY bucket')

describe('the rate limit across instances', () => {
  it('when one caller spreads its requests over two instances, then RATE_LIMIT_MAX is its budget in all, and each key keeps its own', async () => {
    const key = (k: string) => ({ 'x-api-key': k.repeat(20) })
    const { a, b } = await twoInstances({ RATE_LIMIT_MAX: '4', API_KEYS: `x:read:${'x'.repeat(20)},y:read:${'y'.repeat(20)}` })
    const statuses: number[] = []
    for (const app of [a, b, a, b, a, b]) statuses.push((await app.app.inject({ url: '/workflows', headers: key('x') })).statusCode)
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429])

    const refused = await b.app.inject({ url: '/workflows', headers: key('x') })
    expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(refused.json()).toMatchObject({ status: 429, type: 'urn:auto-feature-builder:problem:rate-limited' })
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // another key is not touched by x's spending
    expect((await a.app.inject({ url: '/workflows', headers: key('y') })).statusCode).toBe(200)
    expect((await b.app.inject({ url: '/workflows', headers: key('y') })).statusCode).toBe(200)
  })

  it('when unmatched paths are probed on two instances, then they share one budget too', async () => {
    const { a, b } = await twoInstances({ RATE_LIMIT_MAX: '2' })
    const statuses: number[] = []
    for (const app of [a, b, a, b]) statuses.push((await app.app.inject('/no-such-path')).statusCode)
    expect(statuses).toEqual([404, 404, 429, 429])
  })

  it('when a caller is over its limit, then its further refusals are answered by the instance alone: the database counts no more of them', async () => {
    const { a, b, url } = await twoInstances({ RATE_LIMIT_MAX: '2' })
    const db = await openDb(url)
    for (let i = 0; i < 3; i++) await a.app.inject('/workflows')
    expect(await countsIn(db)).toEqual([{ bucket: 'anonymous:127.0.0.1', count: 3 }])
    for (let i = 0; i < 20; i++) expect((await a.app.inject('/workflows')).statusCode).toBe(429)
    expect(await countsIn(db)).toEqual([{ bucket: 'anonymous:127.0.0.1', count: 3 }])
    // b has not seen the caller refused: it asks once, learns it, and then answers alone as well
    for (let i = 0; i < 5; i++) expect((await b.app.inject('/workflows')).statusCode).toBe(429)
    expect(await countsIn(db)).toEqual([{ bucket: 'anonymous:127.0.0.1', count: 4 }])
  })
})

const silent = pino({ level: 'silent' })

describe('the shared request counts', () => {
  async function migrated(): Promise<SqlDatabase> {
    const db = await openDb((await cluster.database()).url)
    await migratePostgres(db)
    return db
  }

  it('when a window is over, then the next request starts a new one, and ended windows are removed', async () => {
    const db = await migrated()
    const windowMs = 60_000
    expect(await countRequest(db, 'k', windowMs)).toMatchObject({ count: 1 })
    const second = await countRequest(db, 'k', windowMs)
    expect(second.count).toBe(2)
    expect(second.resetInMs).toBeGreaterThan(0)
    expect(second.resetInMs).toBeLessThanOrEqual(windowMs)
    // a window is over once the database's clock is past its end: moved back rather than waited for,
    // so the test never depends on how long the machine takes between two statements
    const endWindowOf = (bucket: string) => db.run('UPDATE request_counts SET window_start = window_start - ? WHERE bucket = ?', [windowMs + 1_000, bucket])
    await endWindowOf('k')
    await countRequest(db, 'fresh', windowMs)
    expect(await forgetEndedWindows(db, windowMs)).toBe(1) // k's window is over, fresh's is not
    expect(await countsIn(db)).toEqual([{ bucket: 'fresh', count: 1 }])
    expect(await countRequest(db, 'k', windowMs)).toMatchObject({ count: 1 })
    // a window that ended while its row is still there: the next request starts the new window in that row
    await countRequest(db, 'fresh', windowMs)
    await endWindowOf('fresh')
    expect(await countRequest(db, 'fresh', windowMs)).toMatchObject({ count: 1 })
  })

  it('when many requests of one caller are counted at once, then none is lost', async () => {
    const db = await migrated()
    const counts = await Promise.all(Array.from({ length: 50 }, () => countRequest(db, 'busy', 60_000)))
    expect(counts.map((c) => c.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
  })

  it('when the database cannot count, then the instance counts on its own, leaves the database alone for the back-off, then goes back to the shared counts', async () => {
    const db = await migrated()
    // the back-off runs on the counter's clock, moved by hand; a count waits as long as it takes (10 s bounds a hang),
    // so only the missing table, never a slow machine, sends a count to the instance
    let clock = 0
    const counter = new SharedRequestCounter(db, 2, 60_000, silent, { maxInFlight: 2, backOffMs: 300, waitMs: 10_000, now: () => clock })
    expect((await counter.hit('c')).count).toBe(1)
    await db.run('ALTER TABLE request_counts RENAME TO request_counts_away')
    // the local count starts from nothing: per instance, as with one instance, until the database counts again
    expect((await counter.hit('c')).count).toBe(1)
    await db.run('ALTER TABLE request_counts_away RENAME TO request_counts')
    // within the back-off the database is not asked, although it could count again
    clock += 299
    expect([(await counter.hit('c')).count, (await counter.hit('c')).count]).toEqual([2, 3])
    expect(await countsIn(db)).toEqual([{ bucket: 'c', count: 1 }])
    clock += 1
    expect((await counter.hit('c')).count).toBe(2)
    expect(await countsIn(db)).toEqual([{ bucket: 'c', count: 2 }])
  })

  it('when the pool has no connection to spare (a request before authentication), then the count does not wait for one: it is counted here', async () => {
    const { url } = await cluster.database()
    const db = await openDb(url) // a pool of 2
    await migratePostgres(db)
    const counter = new SharedRequestCounter(db, 5, 60_000, silent, { maxInFlight: 1, waitMs: 100, backOffMs: 60_000 })
    // both of the pool's connections wait for an advisory lock another session holds until the test lets it go
    const gate = await openDb(url)
    let letGo!: () => void
    const gateHeld = new Promise<void>((resolve) => (letGo = resolve))
    let locked!: () => void
    const gateLocked = new Promise<void>((resolve) => (locked = resolve))
    const gateSession = gate.transaction(async (tx) => {
      await tx.run('SELECT pg_advisory_xact_lock(42)')
      locked()
      await gateHeld
    })
    await gateLocked
    let held = true
    const holders = [0, 1].map(() =>
      db
        .transaction(async (tx) => {
          await tx.run('SET LOCAL statement_timeout = 0') // held for as long as the test needs, however slow the machine
          await tx.run('SELECT pg_advisory_xact_lock(42)')
        })
        .finally(() => (held = false)),
    )
    await vi.waitFor(async () => expect(await gate.get<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).toEqual({ n: 2 }), { timeout: 10_000 })
    const counted = await counter.hit('early')
    expect(held).toBe(true) // answered while the pool was still busy
    expect(counted.count).toBe(1)
    // and while backing off, nothing more queues for the pool
    for (let i = 0; i < 20; i++) await counter.hit('early')
    letGo()
    await gateSession
    await Promise.all(holders)
    // the one statement that had a slot ran once a connection was free; none of the 20 others was sent
    await vi.waitFor(async () => expect(await countsIn(db)).toEqual([{ bucket: 'early', count: 1 }]))
  })

  it('when more requests are counted at once than maxInFlight, then the rest wait for a slot and every one is counted in the database', async () => {
    const db = await migrated()
    // 20 s bounds a hang only: 30 statements in a row take what a loaded machine takes
    const counter = new SharedRequestCounter(db, 1000, 60_000, silent, { maxInFlight: 1, waitMs: 20_000 })
    const counts = await Promise.all(Array.from({ length: 30 }, () => counter.hit('queue')))
    expect(counts.map((c) => c.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(await countsIn(db)).toEqual([{ bucket: 'queue', count: 30 }])
  })

  it('when requests stop waiting for a slot (their 100 ms are up), then they leave the queue: no statement is ever sent for them', async () => {
    const db = await migrated()
    await countRequest(db, 'slow', 60_000)
    const counter = new SharedRequestCounter(db, 1000, 60_000, silent, { maxInFlight: 1, waitMs: 50, backOffMs: 0 })
    // another session holds the caller's row: the first count waits on it, holding the only slot
    let unlock!: () => void
    const holding = db.transaction(async (tx) => {
      await tx.run("SELECT count FROM request_counts WHERE bucket = 'slow' FOR UPDATE")
      await new Promise<void>((resolve) => (unlock = resolve))
    })
    await vi.waitFor(() => expect(unlock).toBeTypeOf('function'))
    const answers = await Promise.all(Array.from({ length: 20 }, () => counter.hit('slow')))
    expect(answers.every((a) => a.count <= 20)).toBe(true) // counted here, each
    unlock()
    await holding
    // the one statement that held the slot ran; the 19 that gave up waiting sent nothing
    await vi.waitFor(async () => expect(await countsIn(db)).toEqual([{ bucket: 'slow', count: 2 }]))
    await sleep(200)
    expect(await countsIn(db)).toEqual([{ bucket: 'slow', count: 2 }])
  })
})
