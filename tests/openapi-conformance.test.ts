/**
 * The OpenAPI document checked by a validator this project does not write: Stoplight Prism's own
 * engine (@stoplight/prism-http, what `prism proxy` runs) forwards a mix of real requests to a
 * listening instance and checks each request and each answer against the document — statuses,
 * media types, bodies, security. Any violation fails; so does a documented route or status that
 * nothing in the mix produces, unless NOT_IN_MIX says where else it is tested.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { getHttpOperationsFromSpec } from '@stoplight/prism-http'
import { createClientFromOperations, type PrismHttp } from '@stoplight/prism-http/dist/client.js'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/config.js'
import { sampleOpportunity, testApp, type TestApp } from './helpers/app.js'

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
}
interface Sent {
  label: string
  operation: string
  status: number
  input: string[]
  output: string[]
}

/** Documented answers the mix does not produce (by status, or by "METHOD /path status"), and the tests that do. */
const NOT_IN_MIX: Record<string, string> = {
  '503': 'a store or remote that is away: tests/e2e/postgres-restart.test.ts, tests/git/full-disk.test.ts, tests/http/health.test.ts',
  '413': 'a body over BODY_LIMIT: tests/http/issues.test.ts, tests/security/audit-every-request.test.ts',
  '422': 'an Idempotency-Key reused with another payload: tests/security/idempotency-limits.test.ts',
  '409': 'a locked or changed repository, a workflow whose files no longer reproduce: tests/git',
  // protected mode refuses callers that are not on loopback, and this test's instances listen on loopback only
  'GET / 403': 'tests/security/auth.test.ts',
  'GET /healthz 403': 'tests/security/auth.test.ts',
  'GET /readyz 403': 'tests/security/auth.test.ts',
}
/**
 * 400s that come from rules the document cannot carry: a metric's range is the rule in force
 * (THRESHOLDS_FILE can change it; the 400 names it), a prompt's variables are its template's.
 */
const REFUSED_BY_RULES_NOT_IN_THE_SCHEMA = ['invalid KPI: out of range', 'prompt, bad variables']

const notInMix = (key: string) => NOT_IN_MIX[key] ?? NOT_IN_MIX[key.split(' ').at(-1) as string]

const JSON_BODY = { 'content-type': 'application/json' }
const FORM_BODY = { 'content-type': 'application/x-www-form-urlencoded' }
const NO_SUCH_ID = '00000000-0000-4000-8000-000000000000'
const READ_KEY = 'r'.repeat(24)
const INGEST_KEY = 'i'.repeat(24)

function prismClient(operations: Awaited<ReturnType<typeof getHttpOperationsFromSpec>>, upstream: string): PrismHttp {
  // errors: false — Prism forwards every request and reports what it found, as `prism proxy` does
  return createClientFromOperations(operations, {
    mock: false,
    upstream: new URL(upstream),
    upstreamProxy: undefined,
    validateRequest: true,
    validateResponse: true,
    checkSecurity: true,
    errors: false,
    isProxy: true,
    logger: pino({ level: 'silent' }) as never,
  } as never)
}

/** "POST /workflows/{id}/prompt" for the request's URL, from the document's paths. */
function operationOf(doc: Document, method: string, url: string): string {
  const pathname = url.split('?')[0] as string
  const template = Object.keys(doc.paths).find((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname))
  return `${method.toUpperCase()} ${template ?? pathname}`
}

const describeViolations = (list: Array<{ message: string; path?: string[] }> = []) => list.filter((v) => v.message !== undefined).map((v) => `${(v.path ?? []).join('.')} ${v.message}`.trim())

let protectedMode: TestApp
let keyed: TestApp
const sent: Sent[] = []
let servedDoc: Document
let committedDoc: Document

async function send(client: PrismHttp, doc: Document, label: string, method: string, url: string, options: { body?: unknown; headers?: Record<string, string> } = {}) {
  const result = await client.request(url, { method: method.toLowerCase() as never, headers: options.headers ?? {}, body: options.body })
  sent.push({ label, operation: operationOf(doc, method, url), status: result.status, input: describeViolations(result.violations.input as never), output: describeViolations(result.violations.output as never) })
  return result
}

beforeAll(async () => {
  committedDoc = JSON.parse(readFileSync(path.join(projectRoot(), 'openapi', 'openapi.json'), 'utf8')) as Document
  // protected mode: loopback callers need no key, as the instance's own document says
  protectedMode = await testApp({ GROUP_WINDOW: '24h' })
  const local = await protectedMode.app.listen({ host: '127.0.0.1', port: 0 })
  servedDoc = (await protectedMode.app.inject({ url: '/openapi.json' })).json<Document>()
  const viaServed = prismClient(await getHttpOperationsFromSpec(servedDoc as never), local)
  const p = (label: string, method: string, url: string, options?: { body?: unknown; headers?: Record<string, string> }) => send(viaServed, servedDoc, label, method, url, options)

  const created = await p('JSON opportunity', 'POST', '/issues', { body: sampleOpportunity, headers: JSON_BODY })
  const id = (created.data as { workflow_id: string }).workflow_id
  await p('lenient JSON: decimal string, comma list, any-case enums, empty timestamp', 'POST', '/issues', {
    body: { ...sampleOpportunity, issue_type: 'High_Churn', severity: 'HIGH', metric_value: ' 0.08 ', affected_items: 'cust_1, cust_2', timestamp: '', group: false },
    headers: JSON_BODY,
  })
  await p('form opportunity, repeated key', 'POST', '/issues', { body: 'issue_type=high_churn&severity=High&description=Churn&metric_value=0.08&affected_items=a&affected_items=b&group=false', headers: FORM_BODY })
  await p('form opportunity, comma list', 'POST', '/issues', { body: 'issue_type=error_spike&severity=low&description=Errors&metric_value=12&affected_items=a,b', headers: FORM_BODY })
  await p('first of its type', 'POST', '/issues', { body: { ...sampleOpportunity, issue_type: 'revenue_drop', severity: 'low' }, headers: JSON_BODY })
  await p('grouped detection', 'POST', '/issues', { body: { ...sampleOpportunity, issue_type: 'revenue_drop', severity: 'low' }, headers: JSON_BODY })
  await p('invalid: a percentage', 'POST', '/issues', { body: { ...sampleOpportunity, metric_value: '8%' }, headers: JSON_BODY })
  await p('unsupported media type', 'POST', '/issues', { body: 'hello', headers: { 'content-type': 'text/plain' } })
  await p('KPI snapshot, decimal strings', 'POST', '/kpis', { body: { source: 'make', metrics: { churn_rate: '0.12', error_rate: 0.001 } }, headers: JSON_BODY })
  await p('KPI snapshot, nothing breached', 'POST', '/kpis', { body: { metrics: { error_rate: 0.0001 } }, headers: JSON_BODY })
  // (a form's flat metric fields, churn_rate=0.02, are a form spelling OpenAPI cannot say: tests/http/kpis.test.ts sends them)
  await p('KPI form, no metric', 'POST', '/kpis', { body: 'source=zapier', headers: FORM_BODY })
  await p('invalid KPI: out of range', 'POST', '/kpis', { body: { metrics: { churn_rate: 8 } }, headers: JSON_BODY })
  await p('KPI unsupported media type', 'POST', '/kpis', { body: 'x', headers: { 'content-type': 'text/plain' } })
  await p('thresholds', 'GET', '/thresholds')
  await p('list', 'GET', '/workflows?limit=2&status=generated')
  await p('invalid list query', 'GET', '/workflows?limit=1000')
  await p('one workflow', 'GET', `/workflows/${id}`)
  await p('unknown workflow', 'GET', `/workflows/${NO_SUCH_ID}`)
  await p('malformed id', 'GET', '/workflows/not-a-uuid')
  await p('occurrences', 'GET', `/workflows/${id}/occurrences?limit=1`)
  await p('occurrences, unknown workflow', 'GET', `/workflows/${NO_SUCH_ID}/occurrences`)
  await p('occurrences, bad cursor', 'GET', `/workflows/${id}/occurrences?cursor=%25%25`)
  await p('prompt', 'POST', `/workflows/${id}/prompt`, {
    body: { variables: { customer_name: 'Ana', product_name: 'Acme', churn_score: 0.8, discount_offer: 0.1 } },
    headers: JSON_BODY,
  })
  await p('prompt, unknown workflow', 'POST', `/workflows/${NO_SUCH_ID}/prompt`, { body: { variables: {} }, headers: JSON_BODY })
  await p('prompt, bad variables', 'POST', `/workflows/${id}/prompt`, { body: { variables: { customer_name: 3 } }, headers: JSON_BODY })
  await p('prompt, text body', 'POST', `/workflows/${id}/prompt`, { body: 'x', headers: { 'content-type': 'text/plain' } })
  await p('export list', 'GET', `/workflows/${id}/exports`)
  await p('export list, unknown workflow', 'GET', `/workflows/${NO_SUCH_ID}/exports`)
  await p('export list, malformed id', 'GET', '/workflows/nope/exports')
  for (const format of ['n8n', 'make', 'zapier']) await p(`export ${format}`, 'GET', `/workflows/${id}/exports/${format}`)
  await p('export, unknown format', 'GET', `/workflows/${id}/exports/pdf`)
  await p('export, malformed id', 'GET', '/workflows/nope/exports/n8n')
  await p('preview', 'GET', `/workflows/${id}/preview`)
  await p('preview, unknown workflow', 'GET', `/workflows/${NO_SUCH_ID}/preview`)
  await p('preview, malformed id', 'GET', '/workflows/nope/preview')
  await p('dry-run commit', 'POST', '/commits', { body: { workflow_id: id }, headers: JSON_BODY })
  await p('real commit', 'POST', '/commits', { body: { workflow_id: id, dry_run: false }, headers: JSON_BODY })
  await p('real commit again: unchanged', 'POST', '/commits', { body: `workflow_id=${id}&dry_run=false`, headers: FORM_BODY })
  await p('commit, unknown workflow', 'POST', '/commits', { body: { workflow_id: NO_SUCH_ID }, headers: JSON_BODY })
  await p('commit, dry_run as a string', 'POST', '/commits', { body: { workflow_id: id, dry_run: 'false' }, headers: JSON_BODY })
  await p('commit, text body', 'POST', '/commits', { body: 'x', headers: { 'content-type': 'text/plain' } })
  await p('audit', 'GET', `/audit?limit=5&workflow_id=${id}`)
  await p('audit, bad limit', 'GET', '/audit?limit=0')
  await p('audit verify', 'GET', '/audit/verify?full=true')
  await p('audit verify, bad flag', 'GET', '/audit/verify?full=maybe')
  await p('status', 'GET', '/status')
  await p('metrics', 'GET', '/metrics')
  await p('index', 'GET', '/')
  await p('liveness', 'GET', '/healthz')
  await p('readiness', 'GET', '/readyz')

  // an instance with keys, checked against the committed document (which describes that one)
  keyed = await testApp({ API_KEYS: `reader:read:${READ_KEY},engine:ingest:${INGEST_KEY}`, RATE_LIMIT_MAX: '60' })
  const keyedBase = await keyed.app.listen({ host: '127.0.0.1', port: 0 })
  const viaCommitted = prismClient(await getHttpOperationsFromSpec(committedDoc as never), keyedBase)
  const k = (label: string, method: string, url: string, options?: { body?: unknown; headers?: Record<string, string> }) => send(viaCommitted, committedDoc, label, method, url, options)
  const reader = { authorization: `Bearer ${READ_KEY}` }
  const engine = { 'x-api-key': INGEST_KEY }
  const made = await k('keyed detection', 'POST', '/issues', { body: sampleOpportunity, headers: { ...JSON_BODY, ...engine } })
  const keyedId = (made.data as { workflow_id: string }).workflow_id
  await k('keyed KPI', 'POST', '/kpis', { body: { metrics: { churn_rate: 0.2 } }, headers: { ...JSON_BODY, ...engine } })
  for (const [method, url] of Object.values(committedDoc.paths).length > 0 ? keyedRoutes(keyedId) : []) {
    await k(`no key: ${method} ${url}`, method, url, { ...(method === 'POST' && { body: {}, headers: JSON_BODY }) })
    await k(`wrong role: ${method} ${url}`, method, url, { headers: { ...(method === 'POST' && JSON_BODY), ...(url === '/issues' || url === '/kpis' ? reader : engine) }, ...(method === 'POST' && { body: {} }) })
  }
  await k('readable with the read key', 'GET', `/workflows/${keyedId}`, { headers: reader })
  // the 61st request of the minute from one key is refused
  for (let i = 0; i < 60; i++) {
    await keyed.app.inject({ url: '/status', headers: reader })
    await keyed.app.inject({ url: '/status', headers: engine }) // a 403, counted all the same
  }
  const validBodies: Record<string, unknown> = {
    '/issues': sampleOpportunity,
    '/kpis': { metrics: { churn_rate: 0.01 } },
    [`/workflows/${keyedId}/prompt`]: { variables: {} },
    '/commits': { workflow_id: keyedId },
  }
  for (const [method, url] of keyedRoutes(keyedId)) {
    await k(`rate-limited: ${method} ${url}`, method, url, { headers: { ...(method === 'POST' && JSON_BODY), ...(url === '/issues' || url === '/kpis' ? engine : reader) }, body: validBodies[url] })
  }
  await k('rate-limited: index', 'GET', '/', { headers: reader })
}, 120_000)

/** Every operation that needs a key, with a URL for it. */
function keyedRoutes(id: string): Array<[string, string]> {
  return [
    ['POST', '/issues'],
    ['POST', '/kpis'],
    ['GET', '/thresholds'],
    ['GET', '/workflows'],
    ['GET', `/workflows/${id}`],
    ['GET', `/workflows/${id}/occurrences`],
    ['POST', `/workflows/${id}/prompt`],
    ['GET', `/workflows/${id}/exports`],
    ['GET', `/workflows/${id}/exports/n8n`],
    ['GET', `/workflows/${id}/preview`],
    ['POST', '/commits'],
    ['GET', '/audit'],
    ['GET', '/audit/verify'],
    ['GET', '/status'],
    ['GET', '/metrics'],
  ]
}

afterAll(async () => {
  await protectedMode?.close()
  await keyed?.close()
})

describe('the OpenAPI document, checked by Prism over a mix of real requests', () => {
  it('when every answer is checked against the document, then none violates it (status, media type, body, headers)', () => {
    expect(sent.filter((s) => s.output.length > 0).map((s) => `${s.label} → ${s.status}: ${s.output.join('; ')}`)).toEqual([])
  })

  it('when the service accepts a request, then the document accepts it too; when the service refuses it as invalid (400, 415), so does the document', () => {
    const accepted = sent.filter((s) => s.status < 400 || [404, 409, 429].includes(s.status))
    expect(accepted.filter((s) => s.input.length > 0).map((s) => `${s.label} → ${s.status}: ${s.input.join('; ')}`)).toEqual([])
    const invalid = sent.filter((s) => (s.status === 400 || s.status === 415) && !REFUSED_BY_RULES_NOT_IN_THE_SCHEMA.includes(s.label))
    expect(invalid.length).toBeGreaterThan(8)
    expect(invalid.filter((s) => s.input.length === 0).map((s) => `${s.label} → ${s.status}`)).toEqual([])
  })

  it('when a caller without a key or with the wrong role is refused (401, 403), then the document says that caller needed a key', () => {
    const refused = sent.filter((s) => s.status === 401 || s.status === 403)
    expect(refused.length).toBeGreaterThan(20)
    expect(refused.filter((s) => s.status === 401 && !s.input.some((v) => v.includes('security'))).map((s) => s.label)).toEqual([])
  })

  it('when the documented routes and statuses are listed, then the mix produced each, but those NOT_IN_MIX names the test of', () => {
    const produced = new Set(sent.map((s) => `${s.operation} ${s.status}`))
    const documented = [servedDoc, committedDoc].flatMap((doc) =>
      Object.entries(doc.paths).flatMap(([url, item]) => Object.entries(item).flatMap(([method, operation]) => Object.keys(operation.responses).map((status) => `${method.toUpperCase()} ${url} ${status}`))),
    )
    const missing = [...new Set(documented)].filter((key) => !produced.has(key) && notInMix(key) === undefined)
    expect(missing).toEqual([])
    const undocumented = [...produced].filter((key) => !documented.includes(key))
    expect(undocumented).toEqual([])
  })
})
