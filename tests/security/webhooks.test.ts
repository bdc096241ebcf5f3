import { Webhook } from 'standardwebhooks'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

const SECRET = `whsec_${Buffer.from('a-shared-secret-of-32-bytes-long').toString('base64')}`
const API_KEYS = `ops:read:${'r'.repeat(20)}`
const sender = new Webhook(SECRET)

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

/** Headers exactly as a Standard Webhooks sender (Make.com, the income engine) produces them. */
function signed(id: string, body: string, at = new Date(), contentType = 'application/json') {
  return { 'content-type': contentType, 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sender.sign(id, at, body) }
}

describe('signed webhooks (Standard Webhooks 1.0)', () => {
  it('when a body is signed with WEBHOOK_SECRET, then it is accepted without an API key and audited as webhook', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_1', body) })
    expect(res.statusCode).toBe(201)
    const [entry] = (await t.app.inject({ url: '/audit?operation=issue.create', headers: { 'x-api-key': 'r'.repeat(20) } })).json().items
    expect(entry).toMatchObject({ actor: 'webhook', status: 201 })
  })

  it('when a signed form body arrives (Make HTTP module), then the signature is checked over the raw bytes', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = 'issue_type=abandoned_carts&severity=medium&description=527+carts&metric_value=0.27&affected_items=a,b'
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_form', body, new Date(), 'application/x-www-form-urlencoded') })
    expect(res.statusCode).toBe(201)
    expect(res.json().opportunity.affected_items).toEqual(['a', 'b'])
  })

  it('when one byte of the body, the id or the timestamp differs from what was signed, then 401', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const headers = signed('msg_2', body)
    const tampered = body.replace('"high"', '"low" ')
    const attempts = [
      { payload: tampered, headers },
      { payload: body, headers: { ...headers, 'webhook-id': 'msg_3' } },
      { payload: body, headers: { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) + 1) } },
      { payload: body, headers: { ...headers, 'webhook-signature': 'v1,AAAA' } },
      { payload: body, headers: { ...headers, 'webhook-signature': headers['webhook-signature'].replace('v1,', 'v2,') } },
    ]
    for (const attempt of attempts) {
      const res = await t.app.inject({ method: 'POST', url: '/issues', ...attempt })
      expect(res.statusCode).toBe(401)
      expect(res.json().detail).toMatch(/^Webhook signature rejected/)
    }
    expect((await t.app.inject({ url: '/workflows', headers: { 'x-api-key': 'r'.repeat(20) } })).json().items).toEqual([])
  })

  it('when the timestamp is more than five minutes away, then 401 even with a valid signature', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const old = new Date(Date.now() - 6 * 60 * 1000)
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_old', body, old) })
    expect(res.statusCode).toBe(401)
    expect(res.json().detail).toContain('5 minutes')
    const slightlyOld = new Date(Date.now() - 4 * 60 * 1000)
    expect((await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_ok', body, slightlyOld) })).statusCode).toBe(201)
  })

  it('when several signatures are sent (secret rotation), then one valid v1 is enough', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const headers = signed('msg_rot', body)
    const res = await t.app.inject({
      method: 'POST',
      url: '/issues',
      payload: body,
      headers: { ...headers, 'webhook-signature': `v1,b2xkLXNpZ25hdHVyZQ== ${headers['webhook-signature']}` },
    })
    expect(res.statusCode).toBe(201)
  })

  it('when the sender retries the same webhook-id, then the first answer is replayed and no second workflow is made', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const first = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_retry', body) })
    const retry = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_retry', body) })
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.headers.location).toBe(first.headers.location)
    expect(retry.json()).toEqual(first.json())
    expect((await t.app.inject({ url: '/workflows', headers: { 'x-api-key': 'r'.repeat(20) } })).json().items).toHaveLength(1)
  })

  it('when a captured signed request is resent with fresh Idempotency-Keys, then it is still the same message', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET })
    const body = JSON.stringify(sampleOpportunity)
    const headers = signed('msg_captured', body)
    const ids = new Set<string>()
    for (const key of [undefined, 'x1', 'x2', 'x3']) {
      const res = await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: key ? { ...headers, 'idempotency-key': key } : headers })
      expect(res.statusCode).toBe(201)
      ids.add(res.json().workflow_id)
    }
    expect(ids.size).toBe(1)
  })

  it('when someone guesses keys from the same address, then signed webhooks still get through (their own rate bucket)', async () => {
    t = await testApp({ API_KEYS, WEBHOOK_SECRET: SECRET, RATE_LIMIT_MAX: '3' })
    for (let i = 0; i < 4; i++) await t.app.inject({ url: '/workflows', headers: { 'x-api-key': `guess-${i}-000000000000000` } })
    const body = JSON.stringify(sampleOpportunity)
    expect((await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_after_guesses', body) })).statusCode).toBe(201)
  })

  it('when WEBHOOK_SECRET is not configured, then signature headers do not authorize anything', async () => {
    t = await testApp({ API_KEYS })
    const body = JSON.stringify(sampleOpportunity)
    expect((await t.app.inject({ method: 'POST', url: '/issues', payload: body, headers: signed('msg_x', body) })).statusCode).toBe(401)
  })
})
