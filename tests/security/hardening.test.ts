import { connect, type Socket } from 'node:net'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { MAX_FORM_PAIRS, parseForm } from '../../src/http/body-parsers.js'
import { purgeExpired } from '../../src/store/retention.js'
import type { SqlValue } from '../../src/store/sql.js'
import { onPostgres, pinnedRateLimitClock, sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { withStore } from '../helpers/audit.js'

const SECRET = `whsec_${Buffer.from('a-shared-secret-of-32-bytes-long').toString('base64')}`
const READ_KEY = 'r'.repeat(20)
const API_KEYS = `ops:read+commit:${READ_KEY}`
const asOps = { authorization: `Bearer ${READ_KEY}` }

let t: TestApp | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await t?.close()
  t = undefined
})

async function listening(app: TestApp): Promise<string> {
  await app.app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return `http://127.0.0.1:${address.port}`
}

/** One number the store answers (`SELECT (sql) AS n`), through the SQL port: the same statement on SQLite and PostgreSQL. */
const count = async (app: TestApp, sql: string, params: SqlValue[] = []) => (await app.services.db.get<{ n: number }>(`SELECT (${sql}) AS n`, params))?.n
const auditCount = (app: TestApp, where = '1 = 1', params: SqlValue[] = []) => count(app, `SELECT COUNT(*) FROM audit WHERE ${where}`, params)
/** The stored audit entries matching `where`, oldest first, parsed (JSON is read in JavaScript: the dialects' JSON functions differ). */
const auditEntries = async (app: TestApp, where = '1 = 1', params: SqlValue[] = []) =>
  (await app.services.db.all<{ entry: string }>(`SELECT entry FROM audit WHERE ${where} ORDER BY seq`, params)).map((r) => JSON.parse(r.entry) as Record<string, unknown>)

describe('parsing costs stay linear and are bounded before any work (issue: 80 000 form repeats took 85 s pre-auth)', () => {
  it('when a form repeats one key 10 000 times, then it parses into one array of 10 000', () => {
    const fields = parseForm(Array.from({ length: 10_000 }, (_, i) => `affected_items=i${i}`).join('&'))
    expect(fields.affected_items).toHaveLength(10_000)
  })

  it('when a form carries more pairs than allowed, then it is refused before parsing, naming the limit', () => {
    expect(() => parseForm('a&'.repeat(MAX_FORM_PAIRS))).toThrow(/at most 10100 name=value pairs/)
  })

  it('when a 1 MiB form of repeats arrives with a bogus webhook signature, then it is a 401 and /healthz is answered meanwhile', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET, BODY_LIMIT: String(2 * 1024 * 1024) })
    const url = await listening(t)
    const body = 'a&'.repeat(512 * 1024)
    const flood = fetch(`${url}/issues`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,bogus' },
      body,
    })
    const health = await fetch(`${url}/healthz`)
    const res = await flood
    expect(health.status).toBe(200)
    expect(res.status).toBe(401)
    // refused before any parsing, which before the fix held the event loop for tens of seconds: parsed,
    // this body's 524 288 pairs would have been a 413 (the pair limit, tested above), not a 401
    expect((await res.json()).detail).toMatch(/Webhook signature rejected/)
  })

  it('when a signed-looking request has a malformed JSON body, then the signature is checked first (401, not 400)', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const res = await t.app.inject({
      method: 'POST',
      url: '/issues',
      payload: '{"issue_type": ',
      headers: { 'content-type': 'application/json', 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,bogus' },
    })
    expect(res.statusCode).toBe(401)
  })
})

describe('unauthenticated requests are rate-limited and bounded in the audit log', () => {
  // the rate limit's clock stands still, so no window ends mid-test; on PostgreSQL every count is
  // the database's (testApp waits for it however slow the machine), never this instance's alone
  const rateLimited = (env: Record<string, string>) => testApp(env, tempDir(), false, pinnedRateLimitClock)

  it('when unmatched routes are hammered, then they get 429 past the limit, with or without a valid key', async () => {
    t = await rateLimited({ API_KEYS, RATE_LIMIT_MAX: '5' })
    const anonymous = await Promise.all(Array.from({ length: 12 }, () => t!.app.inject('/no/such/route')))
    expect(anonymous.map((r) => r.statusCode).filter((s) => s === 429)).toHaveLength(7)
    const withKey = await Promise.all(Array.from({ length: 8 }, () => t!.app.inject({ url: '/no/such/route', headers: asOps })))
    // sent at once: which of them are counted first is up to the store (PostgreSQL counts them concurrently)
    expect(withKey.map((r) => r.statusCode).sort()).toEqual([404, 404, 404, 404, 404, 429, 429, 429])
  })

  it('when a caller is refused again and again, then the refusals are counted in a few audit entries, not one row each', async () => {
    t = await rateLimited({ API_KEYS, RATE_LIMIT_MAX: '5' })
    const before = (await auditCount(t)) ?? 0
    for (let i = 0; i < 200; i++) await t.app.inject({ url: `/nope-${i}` })
    // 5 answers within the limit + the first 5 refusals of the minute recorded in full
    expect(await auditCount(t)).toBe(before + 10)
    await t.app.close() // shutdown records what was only counted
    expect((await auditEntries(t, 'operation = ?', ['rate_limit.suppressed'])).map((e) => e.detail)).toEqual([
      expect.stringMatching(/^190 more requests from this caller were refused with 429/),
    ])
  })

  it('when undecodable URLs are hammered, then they are rate-limited too', async () => {
    t = await rateLimited({ API_KEYS, RATE_LIMIT_MAX: '3' })
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await t.app.inject({ url: '/%E0%A4%A' })).statusCode)
    expect(statuses).toEqual([400, 400, 400, 429, 429, 429])
  })

  it('when a URL is 8 KB long, then its audit entry stores a bounded prefix', async () => {
    t = await testApp({ API_KEYS })
    await t.app.inject({ url: `/${'x'.repeat(8192)}` })
    const newest = (await auditEntries(t)).at(-1)
    expect(newest).toMatchObject({ operation: 'unmatched', status: 401 })
    const path = String(newest?.path)
    expect(path.length).toBeLessThan(600)
    expect(path).toMatch(/…\(7681 more characters\)$/)
  })
})

describe('stored size and retention', () => {
  it('when 10 000 affected items arrive, then the stored row and the answer stay near the request size (no per-step copies)', async () => {
    t = await testApp()
    const payload = JSON.stringify({ ...sampleOpportunity, affected_items: Array.from({ length: 10_000 }, (_, i) => `customer_${String(i).padStart(6, '0')}`) })
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload, headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(201)
    const row = await count(t, 'SELECT length(record) + length(artifacts) + length(inputs) FROM workflows WHERE id = ?', [res.json().workflow_id])
    // the items are kept once (the opportunity, in inputs); the files read them at run time. record and
    // artifacts are '' until a commit (migration 11): inputs is what holds the row's size now
    expect(row).toBeGreaterThan(10_000 * 'customer_000000'.length)
    expect(row).toBeLessThan(payload.length + 60_000)
    expect(res.body.length).toBeLessThan(payload.length + 30_000)
    // the files read the items at run time: a preview's size does not depend on how many were sent
    const preview = await t.app.inject(`/workflows/${res.json().workflow_id}/preview`)
    const fewItems = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, group: false } })
    const fewItemsPreview = await t.app.inject(`/workflows/${fewItems.json().workflow_id}/preview`)
    expect(Math.abs(preview.body.length - fewItemsPreview.body.length)).toBeLessThan(1_000)
  })

  it('when retention runs, then old uncommitted workflows and expired keys go; committed ones, recent ones and every audit entry stay', async () => {
    t = await testApp()
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id)
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: ids[1], dry_run: false } })
    expect(commit.statusCode).toBe(201)
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString()
    expect(await t.services.db.run('UPDATE workflows SET created_at = ? WHERE id IN (?, ?)', [old, ids[0]!, ids[1]!])).toEqual({ changes: 2 })
    await t.services.db.run(`INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES ('a', 'k', 'f', 'done', 0, 1)`)
    const auditBefore = (await auditCount(t)) ?? 0

    expect(await purgeExpired(t.services.db, new Date(), 30)).toEqual({ workflows: 1, idempotencyKeys: 1 })
    expect((await t.app.inject(`/workflows/${ids[0]}`)).statusCode).toBe(404)
    // read through the list: a row backdated by hand no longer reproduces (its creation time is an input of the generator)
    expect((await t.app.inject('/workflows?status=committed')).json().items.map((w: { workflow_id: string }) => w.workflow_id)).toEqual([ids[1]])
    expect((await t.app.inject(`/workflows/${ids[2]}`)).statusCode).toBe(200)
    expect(await auditCount(t, 'workflow_id = ?', [ids[0]!])).toBeGreaterThan(0)
    expect(await auditCount(t)).toBeGreaterThanOrEqual(auditBefore)
  })
})

describe('connections', () => {
  it('when hundreds of half-sent connections are held open, then they are closed with a 408 problem and the service keeps answering', async () => {
    t = await testApp({ MAX_CONNECTIONS: '50', HEADERS_TIMEOUT_MS: '500' })
    const url = await listening(t)
    const port = Number(new URL(url).port)
    const answers: string[] = []
    for (let i = 0; i < 200; i++) {
      const socket = connect(port, '127.0.0.1', () => socket.write('POST /issues HTTP/1.1\r\nHost: x\r\n'))
      socket.on('data', (d) => answers.push(d.toString()))
      socket.on('error', () => {})
      sockets.push(socket)
    }
    let health = 0
    for (let attempt = 0; attempt < 100 && health !== 200; attempt++) {
      await new Promise((r) => setTimeout(r, 100))
      health = await fetch(`${url}/healthz`).then((r) => r.status, () => 0)
    }
    expect(health).toBe(200)
    // the half-sent requests are answered once HEADERS_TIMEOUT_MS has passed and the server's next check has run: waited for, not assumed after 1.5 s
    await vi.waitFor(() => expect(answers.some((a) => a.startsWith('HTTP/1.1 408') && a.includes('application/problem+json') && a.includes('x-request-id'))).toBe(true), { timeout: 15_000, interval: 50 })
  })

  it('when a request is not HTTP at all, then the answer is a 400 problem with a request id, and it is audited', async () => {
    t = await testApp()
    const url = await listening(t)
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1', () => socket.write('NOT HTTP\r\n\r\n'))
      let data = ''
      socket.on('data', (d) => (data += d.toString()))
      socket.on('close', () => resolve(data))
      sockets.push(socket)
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request/)
    expect(answer).toMatch(/content-type: application\/problem\+json/)
    const requestId = /x-request-id: ([0-9a-f-]{36})/.exec(answer)?.[1]
    expect(requestId).toBeDefined()
    expect(await auditEntries(t, 'operation = ?', ['client_error'])).toEqual([expect.objectContaining({ status: 400, operation: 'client_error', request_id: requestId })])
  })
})

/**
 * Makes the store refuse writes as a full disk does; returns the error code the answers then name,
 * and how to give the space back.
 * - SQLite: the file may not grow past the pages it has (max_page_count), so SQLITE_FULL comes once
 *   they are used up: the big workflows no longer fit, small entries still may.
 * - PostgreSQL: a database has no size of its own to cap, so a trigger raises what a full disk raises
 *   (53100 disk_full) when the audit entry of a POST /issues is written: the last write of that
 *   request's transaction, after its workflow and its key's completion, which must go with it.
 *   Other requests' small entries are still written, as on SQLite.
 */
async function fillTheDisk(app: TestApp): Promise<{ code: string; free(): Promise<void> }> {
  if (!onPostgres) {
    const db = app.sqlite
    const pages = db.pragma('page_count', { simple: true }) as number
    db.pragma(`max_page_count = ${pages}`) // the database file cannot grow: SQLITE_FULL on the next write that needs a page
    return { code: 'SQLITE_FULL', free: async () => void db.pragma('max_page_count = 1073741823') }
  }
  const sql = app.services.db
  await sql.run(`
    CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full';
    END
    $$`)
  await sql.run(`CREATE TRIGGER disk_full AFTER INSERT ON audit FOR EACH ROW WHEN (NEW.operation = 'issue.create') EXECUTE FUNCTION disk_full()`)
  return { code: '53100', free: async () => void (await sql.run('DROP TRIGGER disk_full ON audit')) }
}

/**
 * Runs `work` while another writer holds the store; returns what `work` returned and the error
 * code the answers then name.
 * - SQLite: a second connection holds the write lock (BEGIN IMMEDIATE) and the app waits for none
 *   (busy_timeout 0): SQLITE_BUSY.
 * - PostgreSQL: a second session holds every table a POST /issues writes in EXCLUSIVE mode (reads
 *   go on, writes wait, as under SQLite's write lock) and the app's statements wait at most
 *   DATABASE_STATEMENT_TIMEOUT_MS (1 s in the test): 57014, the statement cancelled.
 */
async function whileAnotherWriterHoldsTheStore<T>(app: TestApp, work: () => Promise<T>): Promise<{ code: string; result: T }> {
  if (!onPostgres) {
    app.sqlite.pragma('busy_timeout = 0')
    const other = new Database(app.config.databaseFile)
    try {
      other.exec('BEGIN IMMEDIATE')
      const result = await work()
      other.exec('ROLLBACK')
      return { code: 'SQLITE_BUSY', result }
    } finally {
      other.close()
    }
  }
  const result = await withStore(app.config, (other) =>
    other.transaction(async (tx) => {
      await tx.run('LOCK TABLE workflows, idempotency_keys, occurrences, audit, audit_high_water IN EXCLUSIVE MODE')
      return work()
    }),
  )
  return { code: '57014', result }
}

describe('one transaction per request', () => {
  it('when the store refuses writes (a full disk), then answers are 503 problems, nothing half-written is kept, /readyz says so, and it recovers', async () => {
    t = await testApp()
    const workflowsBefore = (await count(t, 'SELECT COUNT(*) FROM workflows')) ?? 0
    const disk = await fillTheDisk(t)
    let key = 'full-disk-1'
    let res = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, description: 'x'.repeat(2000) }, headers: { 'idempotency-key': key } })
    for (let i = 0; i < 20 && res.statusCode === 201; i++) {
      key = `fill-${i}`
      res = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, description: 'y'.repeat(2000) }, headers: { 'idempotency-key': key } })
    }
    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.headers['retry-after']).toBe('30')
    expect(res.headers.location).toBeUndefined()
    expect(res.json().detail).toContain(`could not record this request (${disk.code}); nothing was stored`)
    const ready = await t.app.inject('/readyz')
    expect(ready.statusCode).toBe(503)
    expect(ready.json().detail).toContain(`store refuses writes: ${disk.code}`)
    // every stored workflow has its audit entry and its key marked done: none is half-written
    expect(await count(t, `SELECT COUNT(*) FROM workflows w WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.workflow_id = w.id)`)).toBe(0)
    expect(await count(t, `SELECT COUNT(*) FROM idempotency_keys WHERE state = 'running'`)).toBe(0)
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBeGreaterThanOrEqual(workflowsBefore)
    // the refused request's key was let go: its retry runs again instead of replaying the 503
    expect(await count(t, 'SELECT COUNT(*) FROM idempotency_keys WHERE key = ?', [key])).toBe(0)
    // the metrics count what was stored, not the refused detection
    const detectionsCounted = async () => (await t!.services.metrics.detections.get()).values.reduce((sum, v) => sum + v.value, 0)
    expect(await detectionsCounted()).toBe(((await count(t, 'SELECT COUNT(*) FROM workflows')) ?? 0) - workflowsBefore)

    await disk.free()
    const retried = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'after-full' } })
    expect(retried.statusCode).toBe(201)
    expect((await t.app.inject('/readyz')).statusCode).toBe(200)
    expect(await detectionsCounted()).toBe(((await count(t, 'SELECT COUNT(*) FROM workflows')) ?? 0) - workflowsBefore)
  })

  it('when a keyed request succeeds, then its workflow, its audit entry and its key completion are stored together', async () => {
    t = await testApp()
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'together-1' } })
    const id = res.json().workflow_id
    expect(await count(t, 'SELECT COUNT(*) FROM workflows WHERE id = ?', [id])).toBe(1)
    expect(await count(t, `SELECT COUNT(*) FROM audit WHERE workflow_id = ? AND operation = 'issue.create'`, [id])).toBe(1)
    expect(await t.services.db.get(`SELECT state FROM idempotency_keys WHERE key = 'together-1'`)).toEqual({ state: 'done' })
  })
})

describe('reserved names', () => {
  it('when an API key is named webhook (the signed webhooks’ actor and idempotency scope), then start-up refuses it', () => {
    expect(() => loadConfig({ API_KEYS: `webhook:ingest:${'s'.repeat(20)}` })).toThrow(ConfigError)
    expect(() => loadConfig({ API_KEYS: `webhook:ingest:${'s'.repeat(20)}` })).toThrow(/the id webhook is reserved for signed webhooks/)
  })
})

describe('friction', () => {
  it('when JSON is sent with curl -d (a form content type), then a 415 says to send content-type: application/json', async () => {
    t = await testApp()
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: JSON.stringify(sampleOpportunity), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(res.statusCode).toBe(415)
    expect(res.json().detail).toMatch(/looks like JSON .* send content-type: application\/json/)
  })
})

describe('a database that cannot serve', () => {
  it('when another writer holds the database, then a keyed POST is a 503 store-unavailable problem with retry-after, never a 500, and works once it is free', async () => {
    t = await testApp({ DATABASE_STATEMENT_TIMEOUT_MS: '1000' })
    const app = t
    const { code, result: res } = await whileAnotherWriterHoldsTheStore(app, () =>
      app.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'busy-1' } }),
    )
    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.headers['retry-after']).toMatch(/^\d+$/)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:store-unavailable', status: 503 })
    expect(res.json().detail).toContain(code)
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(0)
    const retried = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'busy-1' } })
    expect(retried.statusCode).toBe(201)
  })
})

describe('DATABASE_URL', () => {
  it('when it is set, then commits go through the remote unless told otherwise, and "false" is refused with the reason; a non-postgres URL is refused', () => {
    const url = 'postgres://afb:secret@db:5432/afb'
    expect(loadConfig({ DATABASE_URL: url }).gitRemoteIsTruth).toBe(true)
    expect(loadConfig({}).gitRemoteIsTruth).toBe(false)
    expect(() => loadConfig({ DATABASE_URL: url, GIT_REMOTE_IS_TRUTH: 'false' })).toThrow(/instances sharing a database commit through GIT_REMOTE/)
    expect(() => loadConfig({ DATABASE_URL: 'mysql://db/afb' })).toThrow(/DATABASE_URL: a postgres:\/\/ \(or postgresql:\/\/\) URL/)
  })
})
