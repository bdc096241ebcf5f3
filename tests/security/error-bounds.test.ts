import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_AUDIT_DETAIL } from '../../src/audit/log.js'
import { MAX_LISTED_ERRORS } from '../../src/contract/problem.js'
import { systemAuditEntry } from '../../src/http/audit-hook.js'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

const SECRET = `whsec_${Buffer.from('a-shared-secret-of-32-bytes-long').toString('base64')}`
const ROOT_KEY = 'r'.repeat(24)
const sender = new Webhook(SECRET)

let t: TestApp
beforeAll(async () => {
  t = await testApp({ API_KEYS: `root:admin:${ROOT_KEY}`, WEBHOOK_SECRET: SECRET })
})
afterAll(() => t.close())

const asRoot = { 'x-api-key': ROOT_KEY, 'content-type': 'application/json' }

/** A JSON object of as many unknown keys ("key_00001": 1, …) as fit in `bytes`: ~74 000 in 1 MB. */
function unknownKeys(bytes: number): { text: string; count: number } {
  const parts: string[] = []
  let size = 2
  for (let i = 1; ; i++) {
    const part = `"key_${String(i).padStart(5, '0')}":1`
    if (size + part.length + 1 > bytes) break
    parts.push(part)
    size += part.length + 1
  }
  return { text: `{${parts.join(',')}}`, count: parts.length }
}

/** What is left of the body limit (1 MB) once `wrapper` surrounds the object. */
const MB = 1024 * 1024
const fitting = (wrapper: string) => unknownKeys(MB - wrapper.length)

/** An answer small whatever the body: the listed faults are capped, so it is O(1) beyond the cap. */
const MAX_ANSWER_BYTES = 8 * 1024

async function auditDetailOf(requestId: string): Promise<string> {
  const items = (await t.app.inject({ url: '/audit?limit=20', headers: asRoot })).json().items as Array<{ request_id: string; detail: string }>
  const entry = items.find((e) => e.request_id === requestId)
  if (!entry) throw new Error(`no audit entry for ${requestId}`)
  return entry.detail
}

/** The bounds every 400 with many faults must keep, for the answer and the audit entry alike. */
async function expectBounded(res: Awaited<ReturnType<TestApp['app']['inject']>>, count: number): Promise<void> {
  expect(res.statusCode, res.body.slice(0, 500)).toBe(400)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.rawPayload.length).toBeLessThan(MAX_ANSWER_BYTES)
  const problem = res.json()
  expect(problem.error_count).toBe(count)
  expect(problem.errors).toHaveLength(MAX_LISTED_ERRORS)
  expect(problem.detail).toContain(String(count))
  const detail = await auditDetailOf(String(res.headers['x-request-id']))
  expect(Buffer.byteLength(detail)).toBeLessThanOrEqual(MAX_AUDIT_DETAIL)
  expect(detail).toContain(String(count))
}

describe('error answers and audit entries stay small however many faults a body holds', () => {
  it('when a 1 MB body of ~74 000 unknown fields reaches POST /issues, then the answer lists 20 of them with the full count, quickly', async () => {
    const { text, count } = fitting('')
    expect(count).toBeGreaterThan(70_000)
    const started = performance.now()
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: text, headers: asRoot })
    // a guard against a pathological blow-up only (the answer was 15 MB and took 1–2 s); CI is a loaded 2-CPU box
    expect(performance.now() - started).toBeLessThan(15_000)
    await expectBounded(res, count)
    expect(res.json().errors[0]).toEqual({ path: 'key_00001', in: 'body', message: expect.stringMatching(/^unknown field; the fields are issue_type, /) })
  })

  it('when the same body arrives as a signed webhook, then it is bounded the same way', async () => {
    const { text, count } = fitting('')
    const at = new Date()
    const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_many_keys', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sender.sign('msg_many_keys', at, text) }
    await expectBounded(await t.app.inject({ method: 'POST', url: '/issues', payload: text, headers }), count)
  })

  it('when POST /commits carries ~74 000 unknown fields, then it is bounded the same way', async () => {
    const { text, count } = fitting('')
    await expectBounded(await t.app.inject({ method: 'POST', url: '/commits', payload: text, headers: asRoot }), count)
  })

  it('when POST /kpis carries ~74 000 unknown metrics, then the one fault naming them is bounded', async () => {
    const wrapper = '{"metrics":}'
    const { text } = fitting(wrapper)
    const res = await t.app.inject({ method: 'POST', url: '/kpis', payload: `{"metrics":${text}}`, headers: asRoot })
    expect(res.statusCode).toBe(400)
    expect(res.rawPayload.length).toBeLessThan(MAX_ANSWER_BYTES)
    expect(Buffer.byteLength(await auditDetailOf(String(res.headers['x-request-id'])))).toBeLessThanOrEqual(MAX_AUDIT_DETAIL)
  })

  it('when POST /workflows/{id}/prompt carries ~74 000 unknown variables, then it is bounded the same way', async () => {
    const created = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'x-api-key': ROOT_KEY } })
    expect(created.statusCode).toBe(201)
    const wrapper = '{"variables":}'
    const { text, count } = fitting(wrapper)
    const url = `/workflows/${created.json().workflow_id}/prompt`
    // the template's four declared variables are missing too
    await expectBounded(await t.app.inject({ method: 'POST', url, payload: `{"variables":${text}}`, headers: asRoot }), count + 4)
  })

  it('when 10 000 affected items are each invalid (a 30 KB body), then the answer lists 20 of them with the full count', async () => {
    const body = { ...sampleOpportunity, affected_items: Array.from({ length: 10_000 }, () => '') }
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: { 'x-api-key': ROOT_KEY } })
    await expectBounded(res, 10_000)
    expect(res.json().errors[0]).toMatchObject({ path: 'affected_items.0', in: 'body' })
  })

  it('when one unknown field name is 500 000 characters long, then the answer and the audit quote only its start', async () => {
    const name = `x${'y'.repeat(500_000)}`
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: JSON.stringify({ ...sampleOpportunity, [name]: 1 }), headers: asRoot })
    expect(res.statusCode).toBe(400)
    expect(res.rawPayload.length).toBeLessThan(MAX_ANSWER_BYTES)
    expect(res.json().errors[0].path).toMatch(/^xy+…\(\d+ more characters\)$/)
    expect(Buffer.byteLength(await auditDetailOf(String(res.headers['x-request-id'])))).toBeLessThanOrEqual(MAX_AUDIT_DETAIL)
  })
})

describe('the audit log bounds every detail, whoever set it', () => {
  it('when an entry carries a megabyte of detail, then 2 KB of its start is stored with how much was left off', async () => {
    const entry = await t.services.audit.record(systemAuditEntry('test.detail', 400, `${'d'.repeat(1_000_000)}`))
    expect(Buffer.byteLength(entry.detail ?? '')).toBeLessThanOrEqual(MAX_AUDIT_DETAIL)
    expect(entry.detail).toMatch(/^d+…\(\d+ more characters\)$/)
    const stored = (await t.app.inject({ url: '/audit?operation=test.detail', headers: asRoot })).json().items[0]
    expect(stored.detail).toBe(entry.detail)
  })
})
