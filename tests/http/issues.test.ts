import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp
beforeAll(async () => {
  t = await testApp({ BODY_LIMIT: '4096' })
})
afterAll(() => t.close())

const post = (payload: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'POST', url: '/issues', payload: payload as string, headers })

describe('POST /issues with JSON', () => {
  it('when a valid opportunity arrives, then 201 with Location and the complete generated workflow', async () => {
    const res = await post(sampleOpportunity)
    expect(res.statusCode).toBe(201)
    const body = res.json()
    expect(res.headers.location).toBe(`/workflows/${body.workflow_id}`)
    expect(res.headers['x-request-id']).toBeTruthy()
    expect(body).toMatchObject({
      status: 'generated',
      opportunity: { ...sampleOpportunity, feature_suggestion: null },
      workflow: { workflow_id: body.workflow_id, name: 'Auto-Retention: High Churn', trigger: 'high_churn_detected', severity: 'high', prompt_template: 'high_churn_retention_template' },
      prompt_template: { name: 'high_churn_retention_template', variables: { customer_name: 'string', product_name: 'string', churn_score: 'float', discount_offer: 'float' } },
      links: { self: `/workflows/${body.workflow_id}`, preview: `/workflows/${body.workflow_id}/preview`, exports: `/workflows/${body.workflow_id}/exports` },
    })
    expect(body.workflow.steps.map((s: { id: number }) => s.id)).toEqual([1, 2, 3, 4, 5])
    expect(body.files.map((f: { path: string; kind: string }) => [f.kind, f.path])).toEqual([
      ['workflow', 'workflows/high_churn_workflow.json'],
      ['prompt_templates', 'workflows/high_churn_prompt_templates.json'],
      ['test', 'tests/high_churn_workflow.test.ts'],
      ['n8n', 'workflows/high_churn_n8n.json'],
      ['make', 'workflows/high_churn_make_blueprint.json'],
    ])
    // the advertised digest is the digest of the file a commit would write
    const stored = (await t.services.store.files(body.workflow_id))
    expect(stored?.[0]?.sha256).toBe(createHash('sha256').update(stored?.[0]?.content ?? '').digest('hex'))
    expect(body.files[0].sha256).toBe(stored?.[0]?.sha256)
  })

  it('when the timestamp is unix seconds or ISO-8601, then it comes back as ISO-8601 UTC', async () => {
    const unix = await post({ ...sampleOpportunity, timestamp: 1_768_816_800 })
    expect(unix.json().opportunity.timestamp).toBe('2026-01-19T10:00:00.000Z')
    const iso = await post({ ...sampleOpportunity, timestamp: '2026-01-19T12:00:00+02:00' })
    expect(iso.json().opportunity.timestamp).toBe('2026-01-19T10:00:00.000Z')
  })

  it('when unknown fields are sent, then a 400 names each, with the field it most likely means', async () => {
    const res = await post({ ...sampleOpportunity, affectedItems: ['a'], colour: 'blue' })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toEqual([
      { path: 'affectedItems', in: 'body', message: 'unknown field; did you mean affected_items?' },
      { path: 'colour', in: 'body', message: expect.stringMatching(/^unknown field; the fields are issue_type, severity/) },
    ])
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: '5f0c6f8e-8c1b-4a55-9d1e-0f4a3c2b1a00', dryRun: false } })
    expect(commit.json().errors[0]).toMatchObject({ path: 'dryRun', message: 'unknown field; did you mean dry_run?' })
  })

  it('when Zapier or Make send what they send (numeric strings, comma lists, "High", an empty timestamp, affected_items[]), then it means what it says', async () => {
    const json = await post({ ...sampleOpportunity, metric_value: '0.08', affected_items: 'a, b', severity: 'High', timestamp: '' })
    expect(json.statusCode).toBe(201)
    expect(json.json().opportunity).toMatchObject({ metric_value: 0.08, affected_items: ['a', 'b'], severity: 'high' })
    const form = await post('issue_type=high_churn&severity=CRITICAL&description=d&metric_value=0.1&affected_items[]=x&affected_items[]=y&timestamp=', {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(form.statusCode).toBe(201)
    expect(form.json().opportunity).toMatchObject({ severity: 'critical', affected_items: ['x', 'y'] })
    const dry = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: json.json().workflow_id, dry_run: 'false' } })
    expect(dry.statusCode).toBe(400)
    expect(dry.json().errors[0].message).toBe('dry_run must be a boolean: use JSON false without quotes, or exactly false in a form')
    const word = await post({ ...sampleOpportunity, metric_value: 'eight percent' })
    expect(word.json().errors[0].message).toBe('metric_value must be a number, e.g. 0.08 for a rate of 8% or 527 for 527 abandoned carts')
  })

  it('when several fields are wrong, then 400 problem+json names every one', async () => {
    const res = await post({ issue_type: 'world_peace', severity: 'urgent', description: '', metric_value: 'eight', affected_items: 5 })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = res.json()
    expect(problem).toMatchObject({ status: 400, title: 'Invalid request', instance: '/issues', request_id: res.headers['x-request-id'] })
    expect(problem.errors.map((e: { path: string }) => e.path).sort()).toEqual(['affected_items', 'description', 'issue_type', 'metric_value', 'severity'])
    expect(problem.errors.find((e: { path: string }) => e.path === 'issue_type').message).toContain('high_churn')
  })

  it('when metric_value is not finite or the timestamp is not a date, then 400 names them', async () => {
    const res = await post('{"issue_type":"high_churn","severity":"low","description":"x","metric_value":1e309,"timestamp":"2026-02-31T00:00:00Z"}', {
      'content-type': 'application/json',
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(['metric_value', 'timestamp']))
  })
})

describe('POST /issues with a form body (Zapier, Make)', () => {
  const form = (body: string) => post(body, { 'content-type': 'application/x-www-form-urlencoded' })

  it('when fields are form-encoded with a comma list, then it is parsed like JSON', async () => {
    const res = await form('issue_type=abandoned_carts&severity=medium&description=527+abandoned+carts&metric_value=0.27&affected_items=cart_1,cart_2&source=zapier')
    expect(res.statusCode).toBe(201)
    expect(res.json().opportunity).toMatchObject({ issue_type: 'abandoned_carts', metric_value: 0.27, affected_items: ['cart_1', 'cart_2'], source: 'zapier' })
  })

  it('when affected_items is a repeated key and the timestamp unix seconds, then both are understood', async () => {
    const res = await form('issue_type=payment_failures&severity=critical&description=x&metric_value=0.84&affected_items=p1&affected_items=p2&timestamp=1768816800')
    expect(res.statusCode).toBe(201)
    expect(res.json().opportunity).toMatchObject({ affected_items: ['p1', 'p2'], timestamp: '2026-01-19T10:00:00.000Z' })
  })

  it('when metric_value is not a decimal, then 400 names it', async () => {
    const res = await form('issue_type=high_churn&severity=low&description=x&metric_value=eight+percent')
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toEqual([expect.objectContaining({ path: 'metric_value', in: 'body' })])
  })
})

describe('Fastify’s own errors are problems too', () => {
  it('when the JSON is malformed, then 400 problem+json', async () => {
    const res = await post('{"issue_type": ', { 'content-type': 'application/json' })
    expect(res.statusCode).toBe(400)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ title: 'Malformed JSON', status: 400 })
  })

  it('when the content type is text/plain, then 415 problem+json', async () => {
    const res = await post('hello', { 'content-type': 'text/plain' })
    expect(res.statusCode).toBe(415)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ status: 415, title: 'Unsupported content type' })
  })

  it('when the body is larger than BODY_LIMIT, then 413 problem+json', async () => {
    const res = await post({ ...sampleOpportunity, description: 'x'.repeat(5000) })
    expect(res.statusCode).toBe(413)
    expect(res.json()).toMatchObject({ status: 413, title: 'Body too large' })
  })

  it('when the route does not exist, then 404 problem+json with the request id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/nowhere', headers: { 'x-request-id': 'trace-123' } })
    expect(res.statusCode).toBe(404)
    expect(res.headers['x-request-id']).toBe('trace-123')
    expect(res.json()).toMatchObject({ status: 404, instance: '/nowhere', request_id: 'trace-123' })
  })

  it('when a caller’s x-request-id is unsafe, then a fresh one is used instead', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a b\u0001<script>' } })
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('the routes a newcomer tries', () => {
  it('when GET /issues is tried, then a 405 with Allow; a trailing slash reaches the route; a 415 names what to send', async () => {
    const get = await t.app.inject('/issues')
    expect(get.statusCode).toBe(405)
    expect(get.headers.allow).toBe('POST')
    expect((await t.app.inject({ method: 'POST', url: '/issues/', payload: sampleOpportunity })).statusCode).toBe(201)
    const xml = await t.app.inject({ method: 'POST', url: '/issues', payload: '<x/>', headers: { 'content-type': 'application/xml' } })
    expect(xml.statusCode).toBe(415)
    expect(xml.json().detail).toMatch(/send content-type: application\/json/)
  })
})
