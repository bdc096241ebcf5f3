import { onceSteps } from '../../src/exports/n8n.js'
import type { PlatformMappings } from '../../src/exports/mapping.js'
import { bodyOf, piecesOf, promptPieces, type Piece } from '../../src/exports/template.js'
import { dataJson } from '../../src/generate/prompt-data.js'
import type { JsonValue } from '../../src/playbooks/schema.js'
import { answerFor, echoOf } from './http-stub.js'
import type { CheckCase } from './workflows.js'

/**
 * What a correct run of a case does, worked out from the playbook alone — its steps, their
 * `{{field}}` reads, the rows the query returns and the stub's answers — without looking at
 * the n8n file. The check then compares n8n's real run against it, so an exporter slip (a
 * wrong node reference, a lost pairing, a half-rendered body) shows as a concrete difference.
 */

type Scope = Record<string, unknown>

export interface ExpectedCall {
  step: string
  /** 0-based index of the step in the workflow */
  stepIndex: number
  path: string
  body: JsonValue
}

export interface ExpectedMail {
  from: string
  to: string
  subject: string
  text: string
}

export interface Expected {
  httpCalls: ExpectedCall[]
  prompts: string[]
  messages: string[]
  mails: ExpectedMail[]
  /** items reaching the end of the workflow */
  processed: number
  /** faults of the playbook or the fixtures found while working this out */
  problems: string[]
}

function valueOf(field: string, scope: Scope): unknown {
  if (!Object.hasOwn(scope, field)) throw new Error(`nothing produces {{${field}}}`)
  return scope[field]
}

/** A text of pieces: one lone read keeps its value's type (as in the exports), anything longer is text. */
function join(pieces: Piece[], scope: Scope): unknown {
  const only = pieces.length === 1 ? pieces[0] : undefined
  if (only && 'expr' in only) return valueOf(only.expr, scope)
  return pieces.map((p) => ('expr' in p ? String(valueOf(p.expr, scope)) : p.text)).join('')
}

/** A config value with its `{{field}}` reads filled from the scope. */
function render(value: JsonValue, scope: Scope): unknown {
  if (typeof value === 'string') return join(piecesOf(value, { ref: (field) => field }), scope)
  if (Array.isArray(value)) return value.map((v) => render(v, scope))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, scope)]))
  return value
}

/** The scope every step starts from: the opportunity's fields and the settings. */
function baseScope(c: CheckCase): Scope {
  return { ...c.body, ...c.settings }
}

/** The query step's SQL and parameters, rendered, so the check can run them itself. */
export function queryOf(c: CheckCase): { sql: string; params: unknown[] } {
  const step = c.workflow.steps.find((s) => s.produces?.list)
  if (!step) throw new Error('no step produces a list')
  return { sql: String(render(step.config['sql'] ?? '', baseScope(c))), params: render(step.config['parameters'] ?? [], baseScope(c)) as unknown[] }
}

export function expectedRun(c: CheckCase, rows: Record<string, unknown>[], mappings: PlatformMappings): Expected {
  const expected: Expected = { httpCalls: [], prompts: [], messages: [], mails: [], processed: 0, problems: [] }
  let items: Scope[] = [baseScope(c)]
  const listAt = c.workflow.steps.findIndex((s) => s.produces?.list === true)
  // steps after the query that read nothing per row run once (n8n executeOnce), on the first item
  const once = onceSteps(c.workflow.steps, listAt)
  let rowCount = 1
  c.workflow.steps.forEach((step, index) => {
    const title = `step ${index + 1} (${step.action})`
    const fields = step.produces?.fields ?? []
    if (step.produces?.list) {
      // the query fans out: one item per row, each carrying the row's columns as fields
      for (const field of fields) if (rows.some((row) => !Object.hasOwn(row, field))) expected.problems.push(`${title}: the query returns no column ${field}`)
      items = rows.map((row) => ({ ...items[0], ...Object.fromEntries(fields.map((f) => [f, row[f]])) }))
      rowCount = items.length
      return
    }
    const nodes = mappings.n8n[step.action].nodes
    const nodeType = nodes.length === 1 ? nodes[0]?.type : 'several nodes'
    for (const scope of once.has(index) ? items.slice(0, 1) : items) {
      if (nodeType === 'n8n-nodes-base.httpRequest') {
        const path = new URL(String(render(step.config['endpoint'] ?? '', scope))).pathname
        expected.httpCalls.push({ step: title, stepIndex: index, path, body: render(bodyOf(step.config), scope) as JsonValue })
        const answer = answerFor(path) ?? {}
        for (const field of fields) {
          if (!Object.hasOwn(answer, field)) expected.problems.push(`${title}: the stub's answer to ${path} lacks ${field}`)
          scope[field] = answer[field]
        }
      } else if (nodeType === '@n8n/n8n-nodes-langchain.openAi') {
        // each value as the n8n export writes it: JSON between the data delimiters
        const prompt = String(join(promptPieces(c.prompt, step, { ref: (field) => field, data: (pieces) => [{ text: dataJson(join(pieces, scope)) }] }), scope))
        expected.prompts.push(prompt)
        expected.messages.push(echoOf(prompt))
        if (fields[0]) scope[fields[0]] = echoOf(prompt)
      } else if (nodeType === 'n8n-nodes-base.emailSend') {
        const text = (key: string) => String(render(step.config[key] ?? '', scope))
        expected.mails.push({ from: text('from'), to: text('to'), subject: text('subject'), text: text('body') })
      } else if (nodeType !== 'n8n-nodes-base.wait') {
        expected.problems.push(`${title}: the check does not know what ${nodeType} does; teach scripts/check-n8n/expected.ts`)
      }
    }
  })
  expected.processed = rowCount
  return expected
}
