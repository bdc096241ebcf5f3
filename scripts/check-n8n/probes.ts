import { WEBHOOK_SECRET_HEADER } from '../../src/exports/webhook.js'
import { WEBHOOK_SECRET } from './credentials.js'
import { lastExecutionId, waitForExecution, type Execution } from './executions.js'
import type { HttpStub, RecordedRequest } from './http-stub.js'
import type { Postgres } from './postgres.js'
import type { SmtpStub, ReceivedMail } from './smtp-stub.js'
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

