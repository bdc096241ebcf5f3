import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_UNIX_SECONDS, SEVERITIES } from '../../src/contract/opportunity.js'
import { testApp, type TestApp } from '../helpers/app.js'

/**
 * Property-based tests of the one endpoint that takes arbitrary outside input: whatever arrives
 * at POST /issues, the answer is a 201 with a generated workflow or a well-formed problem — never a 5xx.
 */

const RUNS = 200
const ISSUE_TYPES = ['high_churn', 'abandoned_carts', 'revenue_drop', 'payment_failures', 'low_conversion', 'error_spike'] as const
const FIELDS = ['issue_type', 'severity', 'description', 'metric_value', 'affected_items', 'timestamp', 'feature_suggestion', 'source'] as const
const PROBLEM_TYPE = 'urn:auto-feature-builder:problem:'

let t: TestApp
beforeAll(async () => {
  t = await testApp()
})
afterAll(async () => {
  await t.close()
})

const postRaw = (payload: string, contentType: string) =>
  t.app.inject({ method: 'POST', url: '/issues', payload, headers: { 'content-type': contentType } })

/** What every answer of POST /issues must look like, whatever the input; returns the status for statistics. */
function expectWellFormedAnswer(res: LightMyRequestResponse, sent: string): number {
  const context = `request body: ${JSON.stringify(sent).slice(0, 500)}\nresponse: ${res.body.slice(0, 500)}`
  expect(res.statusCode, context).toBeLessThan(500)
  expect(res.headers['x-request-id'], context).toBeTruthy()
  if (res.statusCode === 201) {
    const body = res.json()
    expect(body.workflow_id, context).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(res.headers.location, context).toBe(`/workflows/${body.workflow_id}`)
    const issueType: string = body.opportunity.issue_type
    expect(body.files.map((f: { path: string }) => f.path), context).toEqual([
      `workflows/${issueType}_workflow.json`,
      `workflows/${issueType}_prompt_templates.json`,
      `tests/${issueType}_workflow.test.ts`,
      `workflows/${issueType}_n8n.json`,
      `workflows/${issueType}_make_blueprint.json`,
    ])
    return 201
  }
  expect(res.statusCode, context).toBeGreaterThanOrEqual(400)
  expect(res.headers['content-type'], context).toMatch(/^application\/problem\+json/)
  const problem = res.json()
  expect(problem, context).toMatchObject({
    type: expect.stringMatching(/^(urn:auto-feature-builder:problem:|about:blank)/),
    title: expect.any(String),
    status: res.statusCode,
    detail: expect.any(String),
    instance: '/issues',
    request_id: res.headers['x-request-id'],
  })
  expect(problem.title.length, context).toBeGreaterThan(0)
  for (const error of problem.errors ?? []) expect(error, context).toMatchObject({ path: expect.any(String), message: expect.any(String) })
  return res.statusCode
}

// ---- arbitraries -------------------------------------------------------------------------------

const ABSENT = Symbol('absent')
/** Mostly a valid value, sometimes any JSON value, sometimes no key at all. */
const field = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 10, arbitrary: valid }, { weight: 1, arbitrary: fc.jsonValue() }, { weight: 1, arbitrary: fc.constant(ABSENT) })

const validValues = {
  issue_type: fc.constantFrom(...ISSUE_TYPES),
  severity: fc.constantFrom(...SEVERITIES),
  description: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }),
  metric_value: fc.double({ noNaN: true, noDefaultInfinity: true }),
  affected_items: fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 20 }),
  timestamp: fc.oneof(
    fc.integer({ min: 0, max: 4_102_444_800 }),
    fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
    fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  ),
  feature_suggestion: fc.string({ maxLength: 200 }),
  source: fc.constantFrom('income-engine', 'make', 'zapier', ''),
}

/** A record shaped like an opportunity: the real field names with likely-valid values, plus unknown keys. */
const opportunityLike = fc
  .tuple(
    fc.record({
      issue_type: field(validValues.issue_type),
      severity: field(validValues.severity),
      description: field(validValues.description),
      metric_value: field(validValues.metric_value),
      affected_items: field(validValues.affected_items),
      timestamp: field(validValues.timestamp),
      feature_suggestion: field(validValues.feature_suggestion),
      source: field(validValues.source),
    }),
    fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  )
  .map(([known, unknown]) => {
    const body: Record<string, unknown> = { ...unknown }
    for (const [key, value] of Object.entries(known)) if (value !== ABSENT) body[key] = value
    return body
  })

const weirdText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 30 }),
  fc.constantFrom('%', '%%', '%zz', '%E0%A4%A', '%00', '100%', 'a,b,,c', ' , ', 'true', '1e309', '-1e309', 'NaN', 'Infinity', '-0', ' 0.5 ', '0x10', '1_000', '\u0000', '\uFEFF', '\uD800', '💥'),
)
const formKey = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: weirdText }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'affected_items[]') })
const formValue = fc.oneof(
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 2, arbitrary: fc.constantFrom<string>(...ISSUE_TYPES, ...SEVERITIES) },
  { weight: 2, arbitrary: fc.oneof(fc.double(), fc.integer()).map(String) },
  { weight: 2, arbitrary: weirdText },
)

/** encodeURIComponent throws on lone surrogates; those are sent raw (the body is UTF-8, so they become U+FFFD). */
function encodeLoosely(text: string): string {
  try {
    return encodeURIComponent(text)
  } catch {
    return text
  }
}
const formPair = fc.tuple(formKey, formValue, fc.boolean()).map(([key, value, encode]) => (encode ? `${encodeLoosely(key)}=${encodeLoosely(value)}` : `${key}=${value}`))

/** A valid core (most of the time) surrounded by noise: repeated keys, empty values, raw percent signs, odd unicode. */
const formBody = fc
  .tuple(
    fc.array(formPair, { maxLength: 5 }),
    fc.option(
      fc.record({
        issue_type: validValues.issue_type,
        severity: validValues.severity,
        description: validValues.description,
        metric_value: validValues.metric_value.map(String),
      }),
      { freq: 3 },
    ),
    fc.array(formPair, { maxLength: 5 }),
    fc.constantFrom('&', '&&'),
  )
  .map(([before, core, after, separator]) => {
    const corePairs = core ? Object.entries(core).map(([key, value]) => `${key}=${encodeLoosely(value)}`) : []
    return [...before, ...corePairs, ...after].join(separator)
  })

const isJson = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
const truncatedJson = fc
  .jsonValue()
  .map((value) => JSON.stringify(value))
  .chain((text) => fc.nat({ max: Math.max(0, text.length - 1) }).map((end) => text.slice(0, end)))
const malformedJson = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), truncatedJson, fc.string().map((s) => `{${s}`)).filter((text) => !isJson(text))

// ---- properties --------------------------------------------------------------------------------

describe('POST /issues under arbitrary input', () => {
  it('when arbitrary JSON values are posted as application/json, then every answer is a 201 with the generated files or a problem+json 4xx', async () => {
    const statuses = new Set<number>()
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const payload = JSON.stringify(value)
        statuses.add(expectWellFormedAnswer(await postRaw(payload, 'application/json'), payload))
      }),
      { numRuns: RUNS },
    )
    expect([...statuses]).toContain(400)
  })

  it('when opportunity-shaped records with arbitrary field values are posted as JSON, then every answer is a 201 with the generated files or a problem+json 4xx', async () => {
    const statuses = new Set<number>()
    await fc.assert(
      fc.asyncProperty(opportunityLike, async (value) => {
        const payload = JSON.stringify(value)
        statuses.add(expectWellFormedAnswer(await postRaw(payload, 'application/json'), payload))
      }),
      { numRuns: RUNS },
    )
    // the generator must reach both sides of the validator, or the property proves little
    expect([...statuses].sort()).toEqual(expect.arrayContaining([201, 400]))
  })

  it('when arbitrary form-urlencoded bodies are posted, then every answer is a 201 with the generated files or a problem+json 4xx', async () => {
    const statuses = new Set<number>()
    await fc.assert(
      fc.asyncProperty(formBody, async (payload) => {
        statuses.add(expectWellFormedAnswer(await postRaw(payload, 'application/x-www-form-urlencoded'), payload))
      }),
      { numRuns: RUNS },
    )
    expect([...statuses].sort()).toEqual(expect.arrayContaining([201, 400]))
  })

  it('when arbitrary non-JSON text is posted as application/json, then the answer is a 400 problem+json saying the JSON is malformed or empty', async () => {
    await fc.assert(
      fc.asyncProperty(malformedJson, async (payload) => {
        const res = await postRaw(payload, 'application/json')
        expectWellFormedAnswer(res, payload)
        expect(res.statusCode).toBe(400)
        // a byte-order mark is stripped by Fastify's parser, so "\uFEFF1" is valid JSON that fails validation instead
        if (!payload.startsWith('\uFEFF')) {
          expect(res.json().type).toBe(payload.trim() === '' ? `${PROBLEM_TYPE}ctp-empty-json-body` : `${PROBLEM_TYPE}malformed-json`)
        }
      }),
      { numRuns: RUNS },
    )
  })
})

describe('POST /issues with hostile JSON', () => {
  const valid = { issue_type: 'high_churn', severity: 'high', description: 'Churn rose to 8% this week', metric_value: 0.08 }
  const fieldsOf = (res: LightMyRequestResponse): string[] => (res.json().errors ?? []).map((e: { path: string }) => e.path)

  it('when metric_value is 1e309 (Infinity once parsed), then 400 naming metric_value', async () => {
    for (const payload of ['{"metric_value": 1e309}', JSON.stringify(valid).replace('0.08', '1e309')]) {
      const res = await postRaw(payload, 'application/json')
      expectWellFormedAnswer(res, payload)
      expect(res.statusCode).toBe(400)
      expect(fieldsOf(res)).toContain('metric_value')
      expect(res.json().detail).toContain('metric_value')
    }
    const onlyBad = await postRaw(JSON.stringify(valid).replace('0.08', '1e309'), 'application/json')
    expect(fieldsOf(onlyBad)).toEqual(['metric_value'])
  })

  it('when timestamp is later than a JavaScript Date can hold, then 400 naming timestamp; the last representable second is accepted', async () => {
    const last = await postRaw(JSON.stringify({ ...valid, timestamp: MAX_UNIX_SECONDS }), 'application/json')
    expect(last.statusCode).toBe(201)
    expect(last.json().opportunity.timestamp).toBe('+275760-09-13T00:00:00.000Z')
    for (const timestamp of [MAX_UNIX_SECONDS + 0.001, 1e20, Number.MAX_VALUE]) {
      const payload = JSON.stringify({ ...valid, timestamp })
      const res = await postRaw(payload, 'application/json')
      expectWellFormedAnswer(res, payload)
      expect(res.statusCode).toBe(400)
      expect(fieldsOf(res)).toEqual(['timestamp'])
    }
    const form = await postRaw(`issue_type=high_churn&severity=high&description=x&metric_value=1&timestamp=1e20`, 'application/x-www-form-urlencoded')
    expect(form.statusCode).toBe(400)
    expect(fieldsOf(form)).toEqual(['timestamp'])
  })

  it('when the body is an array nested 20 000 levels deep, then 400, not a crash', async () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000)
    const res = await postRaw(deep, 'application/json')
    expectWellFormedAnswer(res, deep.slice(0, 40))
    expect(res.statusCode).toBe(400)
    expect(fieldsOf(res)).toEqual(['(body)'])
  })

  it('when description is an array nested 20 000 levels deep, then 400 naming description', async () => {
    const payload = JSON.stringify(valid).replace('"Churn rose to 8% this week"', '['.repeat(20_000) + ']'.repeat(20_000))
    const res = await postRaw(payload, 'application/json')
    expectWellFormedAnswer(res, payload.slice(0, 120))
    expect(res.statusCode).toBe(400)
    expect(fieldsOf(res)).toEqual(['description'])
  })

  it('when description is an object nested 20 000 levels deep, then 400 naming description', async () => {
    const payload = JSON.stringify(valid).replace('"Churn rose to 8% this week"', '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000))
    const res = await postRaw(payload, 'application/json')
    expectWellFormedAnswer(res, payload.slice(0, 120))
    expect(res.statusCode).toBe(400)
    expect(fieldsOf(res)).toEqual(['description'])
  })

  it('when the body carries a __proto__ key, then 400 problem+json and nothing is created', async () => {
    const before = (await t.services.store.count())
    for (const payload of [
      JSON.stringify(valid).replace('{', '{"__proto__":{"polluted":true},'),
      JSON.stringify(valid).replace('{', '{"affected_items":[{"__proto__":{}}],'),
      JSON.stringify(valid).replace('{', '{"constructor":{"prototype":{"polluted":true}},'),
    ]) {
      const res = await postRaw(payload, 'application/json')
      expectWellFormedAnswer(res, payload)
      expect(res.statusCode).toBe(400)
      expect(res.json().type).toBe(`${PROBLEM_TYPE}malformed-json`)
    }
    expect((await t.services.store.count())).toBe(before)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})
