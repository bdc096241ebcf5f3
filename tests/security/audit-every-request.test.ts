import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { withStore } from '../helpers/audit.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

/** The stored audit entries, oldest first, read on a connection of its own to the app's store (SQLite or PostgreSQL): what is committed, not what the app holds. */
const auditRows = (t: TestApp) =>
  withStore(t.config, async (sql) => (await sql.all<{ entry: string }>('SELECT entry FROM audit ORDER BY seq')).map((r) => JSON.parse(r.entry)))

describe('safety invariant 7: one audit entry per request', () => {
  it('when requests are refused at every stage (401, 403, 413, 415, 400, 404, 422, replay, HEAD, 429), then each has exactly one entry and the chain verifies', async () => {
    const key = 'k'.repeat(20)
    t = await testApp({ API_KEYS: `ops:read+ingest:${key}`, RATE_LIMIT_MAX: '40', BODY_LIMIT: '2048' })
    const auth = { 'x-api-key': key }
    const requests = [
      { method: 'GET' as const, url: '/workflows' }, // 401
      { method: 'POST' as const, url: '/commits', payload: { workflow_id: '5f0c6f8e-8c1b-4a55-9d1e-0f4a3c2b1a00', dry_run: false }, headers: auth }, // 403
      { method: 'POST' as const, url: '/issues', payload: { ...sampleOpportunity, description: 'x'.repeat(3000) }, headers: auth }, // 413
      { method: 'POST' as const, url: '/issues', payload: 'x', headers: { ...auth, 'content-type': 'text/plain' } }, // 415
      { method: 'POST' as const, url: '/issues', payload: { issue_type: 'x' }, headers: auth }, // 400
      { method: 'GET' as const, url: '/nowhere', headers: auth }, // 404
      { method: 'POST' as const, url: '/issues', payload: sampleOpportunity, headers: { ...auth, 'idempotency-key': 'a' } }, // 201
      { method: 'POST' as const, url: '/issues', payload: sampleOpportunity, headers: { ...auth, 'idempotency-key': 'a' } }, // replay
      { method: 'POST' as const, url: '/issues', payload: { ...sampleOpportunity, severity: 'low' }, headers: { ...auth, 'idempotency-key': 'a' } }, // 422
      { method: 'HEAD' as const, url: '/workflows', headers: auth }, // HEAD
    ]
    const statuses: number[] = []
    for (const r of requests) statuses.push((await t.app.inject(r)).statusCode)
    expect(statuses).toEqual([401, 403, 413, 415, 400, 404, 201, 201, 422, 200])
    // then exhaust the rate limit: the 429s are audited too
    let limited = 0
    let sent = 0
    while (limited < 2) {
      sent++
      if ((await t.app.inject({ url: '/workflows', headers: auth })).statusCode === 429) limited++
    }
    const rows = await auditRows(t)
    expect(rows).toHaveLength(requests.length + sent)
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length)
    expect(rows.map((r) => r.status).slice(0, requests.length)).toEqual(statuses)
    expect(rows.filter((r) => r.status === 429)).toHaveLength(2)
    expect(await t.services.audit.verify()).toMatchObject({ ok: true, entries: rows.length })
  })
})

describe('a URL Fastify cannot decode', () => {
  it('when the path has broken percent-encoding, then a 400 problem with a request id, and exactly one audit entry', async () => {
    t = await testApp()
    const res = await t.app.inject({ url: '/workflows/%E0%A4%A' })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.headers['x-request-id']).toBeTruthy()
    expect(res.json()).toMatchObject({ status: 400, title: 'Invalid URL', request_id: res.headers['x-request-id'] })
    const rows = await auditRows(t)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 400, operation: 'unmatched', request_id: res.headers['x-request-id'] })
    expect((await t.services.audit.verify()).ok).toBe(true)
  })

  it('when such a URL carries a secret in its query, then neither the answer nor the audit repeats it', async () => {
    t = await testApp()
    const res = await t.app.inject({ url: '/%zz?api_key=SECRET-123456789' })
    expect(res.statusCode).toBe(400)
    expect(res.body).not.toContain('SECRET-123456789')
    const rows = await auditRows(t)
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ status: 400, request_id: res.headers['x-request-id'] })
    expect(JSON.stringify(rows)).not.toContain('SECRET-123456789')
  })
})
