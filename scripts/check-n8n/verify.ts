import { N8N_REPORT } from '../../src/exports/n8n.js'
import type { Execution } from './executions.js'
import type { Expected } from './expected.js'
import { CHAT_PATH, type RecordedRequest } from './http-stub.js'
import type { ReceivedMail } from './smtp-stub.js'
import type { CheckCase } from './workflows.js'

/** Everything one webhook call caused: n8n's answer, its execution record and what reached the doubles. */
export interface Observed {
  status: number
  text: string
  seconds: number
  execution: Execution | undefined
  requests: RecordedRequest[]
  mails: ReceivedMail[]
}

export interface CaseResult {
  issueType: string
  steps: number
  processed: unknown
  messages: number
  mails: number
  httpCalls: number
  aiCalls: number
  seconds: number
  problems: string[]
}

/** JSON with sorted keys, so two bodies compare equal whatever order n8n wrote the keys in. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value) ?? 'undefined'
}

const short = (text: string, max = 160) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

function commonPrefix(a: string, b: string): number {
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  return i
}

/** The candidate sharing the longest beginning with `text`: the one it was most likely meant to be. */
function closestText(candidates: string[], text: string): string {
  return candidates.reduce((best, c) => (commonPrefix(c, text) > commonPrefix(best, text) ? c : best), candidates[0] ?? '')
}

/** Where two texts first differ, with a little context: enough to spot a half-rendered value. */
function firstDifference(expected: string, actual: string): string {
  const i = commonPrefix(expected, actual)
  const from = Math.max(0, i - 30)
  return `at char ${i}: expected …${JSON.stringify(expected.slice(from, i + 50))}, got …${JSON.stringify(actual.slice(from, i + 50))}`
}

/** Key-level differences of two JSON bodies, e.g. `customer_id: expected "cust_1", got null`. */
function bodyDifferences(expected: unknown, actual: unknown): string {
  if (expected === null || actual === null || typeof expected !== 'object' || typeof actual !== 'object') {
    return `expected ${short(canonical(expected))}, got ${short(canonical(actual))}`
  }
  const e = expected as Record<string, unknown>
  const a = actual as Record<string, unknown>
  return [...new Set([...Object.keys(e), ...Object.keys(a)])]
    .filter((k) => canonical(e[k]) !== canonical(a[k]))
    .map((k) => `${k}: expected ${short(canonical(e[k]), 80)}, got ${short(canonical(a[k]), 80)}`)
    .join('; ')
}

function checkResponse(c: CheckCase, expected: Expected, observed: Observed, problems: string[]): Record<string, unknown> | undefined {
  if (observed.status !== 200) problems.push(`webhook answered HTTP ${observed.status}: ${short(observed.text)}`)
  if (observed.text.trim() === '') {
    problems.push('webhook answered with an empty body: the run stopped before "Report outcome" (see the execution below)')
    return undefined
  }
  let answer: Record<string, unknown>
  try {
    answer = JSON.parse(observed.text) as Record<string, unknown>
  } catch {
    problems.push(`webhook answer is not JSON: ${short(observed.text)}`)
    return undefined
  }
  if (answer['workflow_id'] !== c.workflow.workflow_id) problems.push(`answer.workflow_id is ${JSON.stringify(answer['workflow_id'])}, expected ${c.workflow.workflow_id}`)
  if (answer['issue_type'] !== c.issueType) problems.push(`answer.issue_type is ${JSON.stringify(answer['issue_type'])}, expected ${c.issueType}`)
  if (answer['processed'] !== 2 || expected.processed !== 2) {
    problems.push(`answer.processed is ${JSON.stringify(answer['processed'])}, expected 2 (the two seeded rows; the playbook implies ${expected.processed})`)
  }
  return answer
}

function checkMessages(expected: Expected, answer: Record<string, unknown> | undefined, problems: string[]): number {
  if (expected.messages.length === 0) {
    if (answer && 'messages' in answer) problems.push('answer has messages, but the workflow has no AI step')
    return 0
  }
  const messages = answer?.['messages']
  if (!answer) return 0
  if (!Array.isArray(messages)) {
    problems.push(`answer.messages is ${short(JSON.stringify(messages) ?? 'missing')}, expected ${expected.messages.length} texts`)
    return 0
  }
  if (messages.length !== expected.messages.length) problems.push(`answer.messages has ${messages.length} entries, expected ${expected.messages.length}`)
  const unmatched = expected.messages.filter((m) => !messages.includes(m))
  messages.forEach((message, i) => {
    const text = String(message)
    if (text.includes('{{')) problems.push(`message ${i + 1} holds an unrendered "{{": ${short(text.slice(text.indexOf('{{') - 20))}`)
    if (expected.messages.includes(text)) return
    const closest = closestText(unmatched.length > 0 ? unmatched : expected.messages, text)
    problems.push(`message ${i + 1} differs from the prompt rendered with the seeded row and settings, ${firstDifference(closest, text)}`)
  })
  return messages.length
}

function checkExecution(observed: Observed, problems: string[]): void {
  const run = observed.execution
  if (!run) return void problems.push('n8n saved no finished execution for this call')
  if (run.status !== 'success') problems.push(`execution ${run.id} status is ${run.status}${run.error ? `: ${run.error}` : ''}`)
  else if (run.error) problems.push(`execution ${run.id}: ${run.error}`)
  if (run.lastNode !== N8N_REPORT) problems.push(`execution ${run.id} stopped at "${run.lastNode}", not "${N8N_REPORT}" (items per node: ${JSON.stringify(run.items)})`)
}

/** `stopped`: the run failed, so calls after the failing node are missing for that reason alone — one line says so. */
function checkHttpCalls(expected: Expected, calls: RecordedRequest[], stopped: boolean, problems: string[]): void {
  const left = [...calls]
  let missing = expected.httpCalls.filter((call) => {
    const at = left.findIndex((r) => r.method === 'POST' && r.path === call.path && canonical(r.body) === canonical(call.body))
    if (at < 0) return true
    left.splice(at, 1)
    return false
  })
  if (stopped) {
    const neverMade = missing.filter((call) => !left.some((r) => r.path === call.path))
    if (neverMade.length > 0) problems.push(`${neverMade.length} of ${expected.httpCalls.length} expected HTTP calls never made, as the run stopped early`)
    missing = missing.filter((call) => !neverMade.includes(call))
  }
  for (const call of missing) {
    const near = left.find((r) => r.path === call.path)
    problems.push(
      near
        ? `${call.step} POST ${call.path}: body differs: ${bodyDifferences(call.body, near.body)}`
        : `${call.step}: expected POST ${call.path} ${short(canonical(call.body), 100)}, never received`,
    )
    if (near) left.splice(left.indexOf(near), 1)
  }
  for (const r of left) problems.push(`unexpected ${r.method} ${r.path} ${short(canonical(r.body), 100)}`)
}

function checkAiCalls(expected: Expected, chats: RecordedRequest[], problems: string[]): void {
  if (chats.length !== expected.prompts.length) problems.push(`the OpenAI stub got ${chats.length} chat requests, expected ${expected.prompts.length}`)
  for (const chat of chats) {
    if (chat.authorization !== 'Bearer sk-check-n8n') problems.push(`chat request without the credential's API key (authorization: ${chat.authorization ?? 'none'})`)
  }
}

function checkMails(expected: Expected, mails: ReceivedMail[], stopped: boolean, problems: string[]): void {
  if (mails.length !== expected.mails.length) problems.push(`the SMTP stub got ${mails.length} mails, expected ${expected.mails.length}`)
  if (stopped && mails.length === 0) return
  for (const want of expected.mails) {
    const got = mails.find((m) => m.to.includes(want.to))
    if (!got) {
      problems.push(`no mail to ${want.to} (mails went to: ${mails.flatMap((m) => m.to).join(', ') || 'nobody'})`)
      continue
    }
    if (got.from !== want.from) problems.push(`mail to ${want.to} is from ${got.from}, expected ${want.from}`)
    if (got.subject !== want.subject) problems.push(`mail to ${want.to} has subject ${JSON.stringify(got.subject)}, expected ${JSON.stringify(want.subject)}`)
    if (got.text.trim() !== want.text.trim()) problems.push(`mail to ${want.to}: body ${firstDifference(want.text.trim(), got.text.trim())}`)
  }
}

/** A valid run that never happened (the workflow was not activated): no figures, only the problem. */
export function emptyCase(issueType: string): CaseResult {
  return { issueType, steps: 0, processed: undefined, messages: 0, mails: 0, httpCalls: 0, aiCalls: 0, seconds: 0, problems: [] }
}

export function verify(c: CheckCase, expected: Expected, observed: Observed): CaseResult {
  const problems = [...expected.problems]
  const answer = checkResponse(c, expected, observed, problems)
  const messages = checkMessages(expected, answer, problems)
  checkExecution(observed, problems)
  // a run can also end "successfully" before the report, when a node outputs no items
  const stopped = observed.execution?.status !== 'success' || observed.execution.lastNode !== N8N_REPORT
  const chats = observed.requests.filter((r) => r.path === CHAT_PATH)
  const calls = observed.requests.filter((r) => r.path !== CHAT_PATH)
  checkHttpCalls(expected, calls, stopped, problems)
  checkAiCalls(expected, chats, problems)
  checkMails(expected, observed.mails, stopped, problems)
  return {
    issueType: c.issueType,
    steps: c.workflow.steps.length,
    processed: answer?.['processed'],
    messages,
    mails: observed.mails.length,
    httpCalls: calls.length,
    aiCalls: chats.length,
    seconds: observed.seconds,
    problems,
  }
}
