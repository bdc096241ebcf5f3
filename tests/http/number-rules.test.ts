import { afterEach, describe, expect, it } from 'vitest'
import { testApp, type TestApp } from '../helpers/app.js'

/**
 * POST /issues (`metric_value`) and POST /kpis (each metric) follow one set of rules for numbers,
 * in JSON and form bodies alike: the same value is accepted, or refused with the same hint, on both.
 */
let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

type Encoding = 'json' | 'form'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** The value sent as metric_value of a high_churn issue, or as churn_rate of a snapshot. */
async function send(app: TestApp, endpoint: '/issues' | '/kpis', encoding: Encoding, value: string | number) {
  const fields: Record<string, string | number> =
    endpoint === '/issues' ? { issue_type: 'high_churn', severity: 'high', description: 'churn', metric_value: value } : { churn_rate: value }
  if (encoding === 'form') {
    const body = new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString()
    return app.app.inject({ method: 'POST', url: endpoint, payload: body, headers: FORM })
  }
  const payload = endpoint === '/issues' ? fields : { metrics: fields }
  return app.app.inject({ method: 'POST', url: endpoint, payload })
}

/** What the service made of the value: the number it read, or the message of its 400. */
async function reading(app: TestApp, endpoint: '/issues' | '/kpis', encoding: Encoding, value: string | number): Promise<number | string> {
  const res = await send(app, endpoint, encoding, value)
  if (res.statusCode === 400) {
    const [error] = res.json().errors
    expect(error.path).toBe(endpoint === '/issues' ? 'metric_value' : 'metrics.churn_rate')
    return error.message
  }
  expect(res.statusCode, res.body).toBe(201)
  return endpoint === '/issues' ? res.json().opportunity.metric_value : res.json().evaluations[0].observed
}

describe('one set of rules for numbers on POST /issues and POST /kpis', () => {
  it.each<Encoding>(['json', 'form'])('when a decimal string is sent in %s, then both endpoints read the number', async (encoding) => {
    t = await testApp()
    for (const endpoint of ['/issues', '/kpis'] as const) {
      expect(await reading(t, endpoint, encoding, '0.08'), `${endpoint} ${encoding}`).toBe(0.08)
      expect(await reading(t, endpoint, encoding, ' 0.125 '), `${endpoint} ${encoding}`).toBe(0.125)
    }
  })

  it.each<Encoding>(['json', 'form'])('when a percentage is sent in %s, then both endpoints refuse it with the fraction to send', async (encoding) => {
    t = await testApp()
    for (const endpoint of ['/issues', '/kpis'] as const) {
      const field = endpoint === '/issues' ? 'metric_value' : 'churn_rate'
      expect(await reading(t, endpoint, encoding, '8%'), `${endpoint} ${encoding}`).toBe(`${field} is a fraction, not a percentage: send 0.08 for 8%`)
      expect(await reading(t, endpoint, encoding, '14.1 %'), `${endpoint} ${encoding}`).toBe(`${field} is a fraction, not a percentage: send 0.141 for 14.1%`)
    }
    expect((await t.services.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM workflows'))?.n).toBe(0)
  })

  it('when a word is sent, then both endpoints say a number is wanted and what one looks like', async () => {
    t = await testApp()
    expect(await reading(t, '/issues', 'json', 'eight')).toBe('metric_value must be a number, e.g. 0.08 for a rate of 8% or 527 for 527 abandoned carts')
    expect(await reading(t, '/kpis', 'json', 'eight')).toBe('churn_rate must be a number: churn_rate is a fraction between 0 and 1: send 0.08 for 8%')
    expect(await reading(t, '/kpis', 'form', 'eight')).toBe('churn_rate must be a number: churn_rate is a fraction between 0 and 1: send 0.08 for 8%')
  })

  it("when metric_value is the engine's own count, then POST /issues takes it as it is (it is not a rate, so not range-checked)", async () => {
    t = await testApp()
    expect(await reading(t, '/issues', 'json', 527)).toBe(527)
    expect(await reading(t, '/kpis', 'json', 527)).toMatch(/^527 is outside \[0, 1\]; churn_rate is a fraction between 0 and 1: send 0.08 for 8%$/)
  })
})

describe('POST /kpis refuses what it would otherwise drop', () => {
  it('when a JSON snapshot has unknown top-level fields, then 400 names each with the field it most likely means', async () => {
    t = await testApp()
    const res = await t.app.inject({ method: 'POST', url: '/kpis', payload: { metrics: { churn_rate: 0.2 }, dedupKey: 'store-1', grop: false, affectedItems: {} } })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors).toEqual([
      { path: 'dedupKey', in: 'body', message: 'unknown field; did you mean dedup_key?' },
      { path: 'grop', in: 'body', message: 'unknown field; did you mean group?' },
      { path: 'affectedItems', in: 'body', message: 'unknown field; did you mean affected_items?' },
    ])
    expect((await t.services.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM workflows'))?.n).toBe(0)
  })

  it('when a form names one metric twice, under two spellings or repeated, then 400 says so instead of keeping the last', async () => {
    t = await testApp()
    for (const [body, how] of [
      ['churn_rate=0.08&metrics[churn_rate]=0.5', 'churn_rate (as churn_rate and metrics[churn_rate])'],
      ['metrics.churn_rate=0.08&metrics[churn_rate]=0.08', 'churn_rate (as metrics[churn_rate] and metrics.churn_rate)'],
      ['churn_rate=0.08&churn_rate=0.5', 'churn_rate (repeated)'],
    ] as const) {
      const res = await t.app.inject({ method: 'POST', url: '/kpis', payload: body, headers: FORM })
      expect(res.statusCode, body).toBe(400)
      expect(res.json().detail).toBe(`A metric is sent more than once in the form body: ${how}`)
      expect(res.json().errors).toEqual([{ path: 'metrics.churn_rate', in: 'body', message: 'sent more than once; send each metric once' }])
    }
    expect((await t.services.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM workflows'))?.n).toBe(0)
  })
})
