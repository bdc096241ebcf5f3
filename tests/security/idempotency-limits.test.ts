import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { ABANDONED_AFTER_MS } from '../../src/idempotency/store.js'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { git } from '../helpers/git.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const postIssue = (app: TestApp, key: string, payload: unknown = sampleOpportunity) =>
  app.app.inject({ method: 'POST', url: '/issues', payload: payload as object, headers: { 'idempotency-key': key } })

describe('Idempotency-Key', () => {
  it('when the same key and payload are sent again, then the stored answer is replayed and only one workflow exists', async () => {
    t = await testApp()
    const first = await postIssue(t, 'order-42')
    const again = await postIssue(t, 'order-42')
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.body).toBe(first.body)
    expect((await t.services.store.count())).toBe(1)
    const audit = (await t.app.inject('/audit?operation=issue.create')).json().items
    expect(audit).toHaveLength(2) // the replay is audited too
    expect(audit[0].detail).toContain('replayed')
  })

  it('when the same key comes with a different payload, then 422 and nothing new is created', async () => {
    t = await testApp()
    await postIssue(t, 'order-43')
    const res = await postIssue(t, 'order-43', { ...sampleOpportunity, severity: 'low' })
    expect(res.statusCode).toBe(422)
    expect(res.json()).toMatchObject({ title: 'Idempotency-Key reused' })
    expect((await t.services.store.count())).toBe(1)
  })

  it('when a key is still "running" from a request that died, then a retry within the lease is told to wait and a retry after it runs', async () => {
    t = await testApp()
    const now = Date.now()
    // the fingerprint the retry will have: the same request as the one that died
    const fingerprint = createHash('sha256').update(`POST /issues\napplication/json\n${JSON.stringify(sampleOpportunity)}`).digest('hex')
    const abandoned = (createdAt: number) =>
      t?.services.db.run(`INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES ('anonymous', ?, ?, 'running', ?, ?)`, [
        `died-${createdAt}`,
        fingerprint,
        createdAt,
        now + 86_400_000,
      ])
    await abandoned(now - 60_000) // a minute ago: its request may still be running somewhere
    await abandoned(now - ABANDONED_AFTER_MS - 1) // past the lease: its process is gone
    const young = await postIssue(t, `died-${now - 60_000}`)
    expect(young.statusCode).toBe(409)
    expect(young.json().type).toMatch(/idempotency-in-progress$/)
    const old = await postIssue(t, `died-${now - ABANDONED_AFTER_MS - 1}`)
    expect(old.statusCode).toBe(201)
    expect(await t.services.db.get('SELECT state FROM idempotency_keys WHERE key = ?', [`died-${now - ABANDONED_AFTER_MS - 1}`])).toEqual({ state: 'done' })
    expect(await t.services.store.count()).toBe(1)
  })

  it('when a request outlives its key\'s lease and a retry took the key over, then its late completion stores nothing and the retry\'s answer stands', async () => {
    t = await testApp()
    const claim = await t.services.idempotency.reserve('anonymous', 'slow-1', 'f', Date.now() - ABANDONED_AFTER_MS - 1)
    expect(claim.kind).toBe('reserved')
    const retry = await t.services.idempotency.reserve('anonymous', 'slow-1', 'f')
    expect(retry.kind).toBe('reserved') // taken over
    const response = { status: 201, headers: {}, body: 'late', audit: {} }
    const late = claim.kind === 'reserved' ? claim.claimedAt : 0
    await expect(t.services.db.transaction((tx) => t!.services.idempotency.complete(tx, 'anonymous', 'slow-1', late, response))).rejects.toThrow(/no longer this request's/)
    await t.services.idempotency.release('anonymous', 'slow-1', late) // the late request's undo leaves the retry's claim alone
    if (retry.kind !== 'reserved') throw new Error('unreachable')
    await t.services.db.transaction((tx) => t!.services.idempotency.complete(tx, 'anonymous', 'slow-1', retry.claimedAt, { ...response, body: 'retry' }))
    expect(await t.services.idempotency.reserve('anonymous', 'slow-1', 'f')).toMatchObject({ kind: 'replay', response: { body: 'retry' } })
  })

  it('when a request is invalid, then its key is not used up', async () => {
    t = await testApp()
    expect((await postIssue(t, 'order-44', { issue_type: 'nope' })).statusCode).toBe(400)
    expect((await postIssue(t, 'order-44')).statusCode).toBe(201)
  })

  it('when different callers use the same key, then each has its own', async () => {
    const keys = `a:ingest:${'a'.repeat(20)},b:ingest:${'b'.repeat(20)}`
    t = await testApp({ API_KEYS: keys })
    const asA = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'same', 'x-api-key': 'a'.repeat(20) } })
    const asB = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'same', 'x-api-key': 'b'.repeat(20) } })
    expect(asB.headers['idempotent-replayed']).toBeUndefined()
    expect(asB.json().workflow_id).not.toBe(asA.json().workflow_id)
  })

  it('when a real commit is retried with its key, then the 201 is replayed and git has one commit', async () => {
    t = await testApp()
    const id = (await postIssue(t, 'issue-1')).json().workflow_id
    const commit = () =>
      t!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false }, headers: { 'idempotency-key': 'commit-1' } })
    const [first, concurrent] = await Promise.all([commit(), commit()])
    expect(first.statusCode).toBe(201)
    expect(concurrent.statusCode).toBe(409) // still running when it arrived
    expect(concurrent.json().title).toBe('Request in progress')
    const replay = await commit()
    expect(replay.statusCode).toBe(201)
    expect(replay.headers['idempotent-replayed']).toBe('true')
    expect(replay.json().commit.sha).toBe(first.json().commit.sha)
    expect((await git(t.config.repoPath, 'rev-list', '--count', 'HEAD')).trim()).toBe('2')
  })
})

describe('Idempotency-Key and passing states', () => {
  it('when a keyed commit met a locked repository, then the same key runs again once the lock is gone', async () => {
    t = await testApp()
    const { writeFileSync, rmSync } = await import('node:fs')
    const id = (await postIssue(t, 'issue-lock')).json().workflow_id
    const lock = `${t.config.repoPath}/.git/index.lock`
    writeFileSync(lock, '')
    const commit = () => t!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false }, headers: { 'idempotency-key': 'c-lock' } })
    expect((await commit()).statusCode).toBe(409)
    rmSync(lock)
    const retry = await commit()
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
  })

  it('when a real commit is replayed, then its audit entry says commit.create with the sha, not a dry run', async () => {
    t = await testApp()
    const id = (await postIssue(t, 'issue-audit')).json().workflow_id
    const commit = () => t!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false }, headers: { 'idempotency-key': 'c-audit' } })
    const sha = (await commit()).json().commit.sha
    expect((await commit()).headers['idempotent-replayed']).toBe('true')
    const [replay, first] = (await t.app.inject(`/audit?workflow_id=${id}&operation=commit.create`)).json().items
    expect(first).toMatchObject({ status: 201, dry_run: false, commit_sha: sha, detail: null })
    expect(replay).toMatchObject({ status: 201, dry_run: false, commit_sha: sha, issue_type: 'high_churn' })
    expect(replay.detail).toContain('replayed')
  })
})

describe('limits and headers', () => {
  it('when a caller exceeds RATE_LIMIT_MAX per minute, then 429 problem+json with retry-after; probes stay exempt', async () => {
    t = await testApp({ RATE_LIMIT_MAX: '3' })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await t.app.inject('/workflows')).statusCode)
    expect(statuses).toEqual([200, 200, 200, 429])
    const limited = await t.app.inject('/workflows')
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(limited.json()).toMatchObject({ status: 429, title: 'Too Many Requests' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    for (let i = 0; i < 5; i++) expect((await t.app.inject('/healthz')).statusCode).toBe(200)
  })

  it('when a caller keeps guessing keys, then the guesses are rate-limited too and every refusal has security headers', async () => {
    t = await testApp({ RATE_LIMIT_MAX: '3', API_KEYS: `a:read:${'a'.repeat(20)}` })
    const guesses = []
    for (let i = 0; i < 5; i++) guesses.push(await t.app.inject({ url: '/workflows', headers: { 'x-api-key': `guess-${i}-0000000000000` } }))
    expect(guesses.map((r) => r.statusCode)).toEqual([401, 401, 401, 429, 429])
    for (const res of guesses) expect(res.headers['x-content-type-options']).toBe('nosniff')
  })

  it('when a caller without a key changes its IPv6 address within its /64, then it keeps one budget; another /64 has its own', async () => {
    t = await testApp({ RATE_LIMIT_MAX: '2', API_KEYS: `a:read:${'a'.repeat(20)}` })
    const from = (remoteAddress: string) => t!.app.inject({ url: '/workflows', remoteAddress })
    const statuses = []
    for (const address of ['2001:db8:0:7::1', '2001:db8:0:7::2', '2001:db8:0:7:ffff:1:2:3', '2001:db8:0:7::9:9']) statuses.push((await from(address)).statusCode)
    expect(statuses).toEqual([401, 401, 429, 429])
    expect((await from('2001:db8:0:8::1')).statusCode).toBe(401)
    // IPv4 addresses count one by one, as before
    expect((await from('192.0.2.1')).statusCode).toBe(401)
  })

  it('when keys are used, then each key has its own budget', async () => {
    t = await testApp({ RATE_LIMIT_MAX: '2', API_KEYS: `a:read:${'a'.repeat(20)},b:read:${'b'.repeat(20)}` })
    const as = (k: string) => t!.app.inject({ url: '/workflows', headers: { 'x-api-key': k.repeat(20) } })
    expect([(await as('a')).statusCode, (await as('a')).statusCode, (await as('a')).statusCode]).toEqual([200, 200, 429])
    expect((await as('b')).statusCode).toBe(200)
  })

  it('when any answer is sent, then it carries security headers, and Swagger UI still loads under its CSP', async () => {
    t = await testApp()
    const res = await t.app.inject('/workflows')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN')
    expect(res.headers['content-security-policy']).toContain("default-src 'self'")
    // served over plain HTTP by default: an upgrade directive would send the docs' assets to https
    expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests')
    const page = await t.app.inject('/docs/')
    expect(page.statusCode).toBe(200)
    const scripts = [...page.body.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1])
    expect(scripts.length).toBeGreaterThan(0)
    for (const src of scripts) expect(src).not.toMatch(/^https?:/) // same-origin, allowed by script-src 'self'
    expect(page.body).not.toMatch(/<script>(?!\s*<\/script>)/) // no inline script the CSP would block
  })
})
