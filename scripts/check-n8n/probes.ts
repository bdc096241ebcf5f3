import { opportunityInput } from '../../src/contract/opportunity.js'
import type { PlatformMappings } from '../../src/exports/mapping.js'
import { DEFAULT_MAX_ITEMS, N8N_TRIGGER } from '../../src/exports/n8n.js'
import { stepTitles } from '../../src/exports/template.js'
import { placeholderValues } from '../../src/generate/workflow.js'
import type { JsonValue } from '../../src/playbooks/schema.js'
import { normalizeOpportunity } from '../../src/workflows/service.js'
import { WEBHOOK_SECRET_HEADER } from '../../src/exports/webhook.js'
import { WEBHOOK_SECRET } from './credentials.js'
import { lastExecutionId, waitForExecution, type Execution } from './executions.js'
import { CHAT_PATH, type HttpStub, type RecordedRequest } from './http-stub.js'
import { expectedRun, queryOf, type Expected } from './expected.js'
import type { N8nPostgresOptions, Postgres } from './postgres.js'
import type { SmtpStub, ReceivedMail } from './smtp-stub.js'
import { canonical } from './verify.js'
import { webhookPath, type CheckCase } from './workflows.js'

/**
 * The calls beyond the valid one: each posts a variant (no secret, a bad body, a list written
 * another way, a failing double…) and sees what it caused — n8n's answer, its execution record,
 * every request and mail that reached the doubles. Calls run one at a time, so all of that
 * belongs to the one call.
 */

export interface Doubles {
  http: HttpStub
  smtp: SmtpStub
  pg: Postgres
}

export interface Target {
  baseUrl: string
  databaseFile: string
  installDir: string
  doubles: Doubles
}

export interface WebhookCall {
  /** the webhook path; default: the case's imported copy */
  path?: string
  body: unknown
  /** the secret header's value; null: no header at all */
  secret?: string | null
  /** send the body as application/x-www-form-urlencoded, an array as repeated keys */
  form?: boolean
}

export interface Outcome {
  status: number
  text: string
  seconds: number
  /** the answer parsed, when it is a JSON object */
  json: Record<string, unknown> | undefined
  execution: Execution | undefined
  requests: RecordedRequest[]
  mails: ReceivedMail[]
}

function formOf(body: Record<string, unknown>): URLSearchParams {
  const form = new URLSearchParams()
  for (const [key, value] of Object.entries(body)) {
    for (const one of Array.isArray(value) ? value : [value]) form.append(key, String(one))
  }
  return form
}

async function post(baseUrl: string, path: string, call: WebhookCall): Promise<Pick<Outcome, 'status' | 'text' | 'seconds'>> {
  const started = Date.now()
  const headers: Record<string, string> = { 'content-type': call.form ? 'application/x-www-form-urlencoded' : 'application/json' }
  if (call.secret !== null) headers[WEBHOOK_SECRET_HEADER] = call.secret ?? WEBHOOK_SECRET
  try {
    const res = await fetch(`${baseUrl}/webhook/${path}`, {
      method: 'POST',
      headers,
      body: call.form ? formOf(call.body as Record<string, unknown>) : JSON.stringify(call.body),
      signal: AbortSignal.timeout(60_000),
    })
    return { status: res.status, text: await res.text(), seconds: (Date.now() - started) / 1000 }
  } catch (err) {
    return { status: 0, text: `request failed: ${(err as Error).message}`, seconds: (Date.now() - started) / 1000 }
  }
}

function jsonOf(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Posts one call and gathers what it caused. `runs`: false when no execution is expected (then it waits only briefly for one). */
export async function observe(t: Target, c: CheckCase, call: WebhookCall, options: { workflowId?: string; runs?: boolean } = {}): Promise<Outcome> {
  const { http, smtp } = t.doubles
  const before = { requests: http.requests.length, mails: smtp.mails.length, execution: lastExecutionId(t.databaseFile) }
  const answer = await post(t.baseUrl, call.path ?? webhookPath(c), call)
  const execution = await waitForExecution(t.databaseFile, t.installDir, options.workflowId ?? c.imported.id, before.execution, options.runs === false ? 2_000 : 15_000)
  return { ...answer, json: jsonOf(answer.text), execution, requests: http.requests.slice(before.requests), mails: smtp.mails.slice(before.mails) }
}

const short = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

/** Problems when the call ran anything: an execution, a request to a double, a mail. */
export function ranNothing(label: string, o: Outcome): string[] {
  const ran: string[] = []
  if (o.execution) ran.push(`execution ${o.execution.id} (${o.execution.status}, last node "${o.execution.lastNode}")`)
  if (o.requests.length > 0) ran.push(`${o.requests.length} HTTP requests (${o.requests.map((r) => r.path).join(', ')})`)
  if (o.mails.length > 0) ran.push(`${o.mails.length} mails`)
  return ran.length > 0 ? [`${label}: something ran: ${ran.join('; ')}`] : []
}

export function statusIs(label: string, o: Outcome, expected: number): string[] {
  return o.status === expected ? [] : [`${label}: answered ${o.status} ${short(o.text)}, expected ${expected}`]
}

/** Without the secret header, or with a wrong value: n8n answers 403 and runs nothing. */
export async function secretProblems(t: Target, c: CheckCase): Promise<string[]> {
  const problems: string[] = []
  for (const [label, secret] of [
    ['no secret', null],
    ['wrong secret', `${WEBHOOK_SECRET}-wrong`],
  ] as const) {
    const o = await observe(t, c, { body: c.body, secret }, { runs: false })
    problems.push(...statusIs(label, o, 403), ...ranNothing(label, o))
  }
  return problems
}

/** A body the check refuses: 400 (422 over max_items) naming the field, and no step ran (no request, no mail). */
export async function invalidBodyProblems(t: Target, c: CheckCase): Promise<string[]> {
  const { issue_type: _, ...withoutType } = c.body
  const cases: [label: string, body: unknown, status: number, field: string][] = [
    ['missing issue_type', withoutType, 400, 'issue_type'],
    ['metric_value "abc"', { ...c.body, metric_value: 'abc' }, 400, 'metric_value'],
    ['severity "urgent"', { ...c.body, severity: 'urgent' }, 400, 'severity'],
    [`${DEFAULT_MAX_ITEMS + 1} affected_items`, { ...c.body, affected_items: Array.from({ length: DEFAULT_MAX_ITEMS + 1 }, (_, i) => `item_${i}`) }, 422, 'affected_items'],
  ]
  const problems: string[] = []
  for (const [label, body, status, field] of cases) {
    const o = await observe(t, c, { body })
    problems.push(...statusIs(label, o, status))
    if (o.json?.['field'] !== field || typeof o.json['error'] !== 'string') problems.push(`${label}: answer ${short(o.text)} does not name the field ${field} with an error`)
    if (o.requests.length > 0 || o.mails.length > 0) problems.push(`${label}: ${o.requests.length} HTTP requests and ${o.mails.length} mails, expected none`)
  }
  return problems
}

/** The rows the playbook's own query returns for these items, counted outside n8n: what `processed` must be. */
async function rowsFor(t: Target, c: CheckCase, items: string[]): Promise<number> {
  const { sql, params } = queryOf({ ...c, body: { ...c.body, affected_items: items } })
  const node = c.imported.nodes.find((n) => n.type === 'n8n-nodes-base.postgres')
  return Math.min((await t.doubles.pg.queryAsN8n(sql, params, (node?.parameters['options'] ?? {}) as N8nPostgresOptions)).length, DEFAULT_MAX_ITEMS)
}

/**
 * affected_items written as an array, a comma-separated text or repeated form fields names the
 * same rows (and mails the same people); "", [""] and no field at all mean the documented
 * "no items named": the playbook's whole cohort as its query selects it (at most max_items).
 */
export async function itemListProblems(t: Target, c: CheckCase, mailsPerRow: number): Promise<string[]> {
  const items = c.body['affected_items'] as string[]
  const { affected_items: _, ...withoutItems } = c.body
  const named = await rowsFor(t, c, items)
  const cohort = await rowsFor(t, c, [])
  const cases: [label: string, call: WebhookCall, rows: number][] = [
    ['array', { body: c.body }, named],
    ['comma text', { body: { ...c.body, affected_items: items.join(', ') } }, named],
    ['form fields', { body: c.body, form: true }, named],
    ['""', { body: { ...c.body, affected_items: '' } }, cohort],
    ['[""]', { body: { ...c.body, affected_items: [''] } }, cohort],
    ['absent', { body: withoutItems }, cohort],
  ]
  const problems: string[] = []
  for (const [label, call, rows] of cases) {
    const o = await observe(t, c, call)
    problems.push(...statusIs(label, o, 200))
    if (o.json?.['processed'] !== rows) problems.push(`${label}: processed ${JSON.stringify(o.json?.['processed'])}, expected ${rows} (the playbook's query${rows === cohort ? ' with no items' : ''})`)
    if (o.mails.length !== rows * mailsPerRow) problems.push(`${label}: ${o.mails.length} mails, expected ${rows * mailsPerRow}`)
  }
  return problems
}

/** A 502 answer naming `step`, and nothing after it ran: every request went to `allowed` paths, no mail. */
function failedAt(label: string, o: Outcome, step: string, allowed: Set<string>): string[] {
  const problems = statusIs(label, o, 502)
  if (o.json?.['failed_step'] !== step || typeof o.json['error'] !== 'string') problems.push(`${label}: answer ${short(o.text)} does not name the failed step "${step}" with an error`)
  const later = o.requests.filter((r) => !allowed.has(r.path))
  if (later.length > 0) problems.push(`${label}: a later step ran: ${later.map((r) => `${r.method} ${r.path}`).join(', ')}`)
  if (o.mails.length > 0) problems.push(`${label}: ${o.mails.length} mails were sent after the failure`)
  return problems
}

/**
 * The first HTTP step's double answers 500 for its first call only: the webhook answers 502
 * naming that step, and no later step runs — not even for the row whose call went through.
 */
export async function failingStepProblems(t: Target, c: CheckCase, expected: Expected): Promise<string[]> {
  const first = expected.httpCalls[0]
  if (!first) return []
  t.doubles.http.failNext(first.path)
  const o = await observe(t, c, { body: c.body })
  const step = stepTitles(c.workflow.steps)[first.stepIndex] as string
  return failedAt(`"${step}" fails`, o, step, new Set([first.path]))
}

/** The copy with no step credential: the first step that needs one answers 502 naming itself (n8n alone would call it a success), and nothing after it runs. */
export async function unconfiguredProblems(t: Target, c: CheckCase, expected: Expected, mappings: PlatformMappings): Promise<string[]> {
  const at = c.workflow.steps.findIndex((step) => mappings.n8n[step.action].nodes.some((node) => node.credential))
  if (at < 0) return []
  const step = stepTitles(c.workflow.steps)[at] as string
  const path = String(c.unconfigured.nodes.find((n) => n.name === N8N_TRIGGER)?.parameters['path'])
  const o = await observe(t, c, { path, body: c.body }, { workflowId: c.unconfigured.id })
  return failedAt('no credentials', o, step, new Set(expected.httpCalls.filter((call) => call.stepIndex < at).map((call) => call.path)))
}

/**
 * A detection unlike the generated one (another metric, severity critical, one item): every HTTP
 * body carries the posted values — the metric step's baseline and cohort size among them — and
 * the answer reports this run's metric_value and count, not the generating detection's.
 */
export async function postedValueProblems(t: Target, c: CheckCase, mappings: PlatformMappings): Promise<string[]> {
  const item = (c.body['affected_items'] as string[])[0] as string
  const body = { ...c.body, severity: 'critical', metric_value: Number((Number(c.body['metric_value']) * 1.5).toPrecision(6)), affected_items: [item] }
  const opportunity = normalizeOpportunity(opportunityInput([c.issueType]).parse(body), new Date())
  const values = placeholderValues(opportunity)
  // the workflow the playbook implies for this detection: its "$placeholders" filled from the posted values
  const steps = c.workflow.steps.map((step) => {
    let config: JsonValue = step.config
    for (const [pointer, placeholder] of Object.entries(step.placeholders ?? {})) config = setAt(config, pointer.split('/').slice(1), values[placeholder] as JsonValue)
    return { ...step, config: config as typeof step.config }
  })
  const posted: CheckCase = { ...c, body, workflow: { ...c.workflow, steps } }
  const { sql, params } = queryOf(posted)
  const node = c.imported.nodes.find((n) => n.type === 'n8n-nodes-base.postgres')
  const rows = await t.doubles.pg.queryAsN8n(sql, params, (node?.parameters['options'] ?? {}) as N8nPostgresOptions)
  const expected = expectedRun(posted, rows, mappings)
  const o = await observe(t, c, { body })
  const problems = [...expected.problems, ...statusIs('posted values', o, 200)]
  if (o.json?.['metric_value'] !== body.metric_value || o.json['processed'] !== rows.length) {
    problems.push(`answer ${short(o.text)}: expected metric_value ${body.metric_value} and processed ${rows.length}`)
  }
  const calls = o.requests.filter((r) => r.path !== CHAT_PATH)
  for (const call of expected.httpCalls) {
    const got = calls.filter((r) => r.path === call.path)
    if (!got.some((r) => canonical(r.body) === canonical(call.body))) {
      problems.push(`${call.step} POST ${call.path}: expected ${short(canonical(call.body), 200)}, got ${got.map((r) => short(canonical(r.body), 200)).join(' / ') || 'nothing'}`)
    }
  }
  return problems
}

function setAt(value: JsonValue, keys: string[], replacement: JsonValue): JsonValue {
  const head = keys[0]?.replaceAll('~1', '/').replaceAll('~0', '~')
  if (head === undefined) return replacement
  if (Array.isArray(value)) return value.map((item, i) => (String(i) === head ? setAt(item, keys.slice(1), replacement) : item))
  if (value !== null && typeof value === 'object') return { ...value, [head]: setAt(value[head] ?? null, keys.slice(1), replacement) }
  return value
}
