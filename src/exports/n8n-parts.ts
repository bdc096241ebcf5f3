import { createHash } from 'node:crypto'
import type { JsonValue } from '../playbooks/schema.js'
import type { N8nNode } from './n8n.js'
import { piecesOf, type Dialect, type Piece, type WorkflowStep } from './template.js'

/*
 * The small parts the n8n export is assembled from: n8n expressions (JavaScript inside `{{ }}`)
 * written so that no value can end one early, stable node ids, and the generic nodes (IF,
 * Respond to Webhook) every step's branches use. PURE, all of them.
 */

/** Stable ids: the same workflow exports byte for byte the same file. */
export function stableId(workflowId: string, name: string): string {
  const h = createHash('sha256').update(`${workflowId}\0${name}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** A JavaScript string literal that never holds `{{` or `}}`, which would end an n8n expression early. */
export function jsString(text: string): string {
  return JSON.stringify(text).replaceAll('{', '\\u007b').replaceAll('}', '\\u007d')
}

/** n8n's expression language is JavaScript inside `{{ }}`. */
export function jsOf(pieces: Piece[]): string {
  const only = pieces.length === 1 ? pieces[0] : undefined
  if (only) return 'expr' in only ? only.expr : jsString(only.text)
  return pieces.length === 0 ? '""' : `(${pieces.map((p) => ('expr' in p ? `String(${p.expr})` : jsString(p.text))).join(' + ')})`
}

export function jsValue(value: JsonValue, dialect: Pick<Dialect, 'ref'>): string {
  if (typeof value === 'string') return jsOf(piecesOf(value, dialect))
  if (Array.isArray(value)) return `[ ${value.map((v) => jsValue(v, dialect)).join(', ')} ]`
  // spaces inside the braces: "}}" would close the expression
  if (value !== null && typeof value === 'object') {
    return `{ ${Object.entries(value).map(([k, v]) => `${jsString(k)}: ${jsValue(v, dialect)}`).join(', ')} }`
  }
  return JSON.stringify(value)
}

export function expression(pieces: Piece[]): JsonValue {
  if (!pieces.some((p) => 'expr' in p)) return pieces.map((p) => ('text' in p ? p.text : '')).join('')
  return `=${pieces.map((p) => ('expr' in p ? `{{ ${p.expr} }}` : p.text)).join('')}`
}


export function setType(value: JsonValue): 'string' | 'number' | 'boolean' | 'array' | 'object' {
  if (typeof value === 'number') return 'number'
  if (typeof value === 'boolean') return 'boolean'
  if (Array.isArray(value)) return 'array'
  if (value !== null && typeof value === 'object') return 'object'
  return 'string'
}

/** A copy of `value` with the value at JSON Pointer `pointer` replaced. */
function replacedAt(value: JsonValue, pointer: string, replacement: JsonValue): JsonValue {
  const [head, ...rest] = pointer.split('/').slice(1).map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'))
  if (head === undefined) return replacement
  const inner = rest.map((key) => `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')
  if (Array.isArray(value)) return value.map((item, i) => (String(i) === head ? replacedAt(item, inner, replacement) : item))
  if (value !== null && typeof value === 'object') return { ...value, [head]: replacedAt(value[head] ?? null, inner, replacement) }
  return value
}

/**
 * The step as this run must carry it out: each config value the generator filled from its own
 * detection (`placeholders`: baseline, cohort size, urgency…) becomes a read of the same value
 * computed from the detection the webhook received, so nothing from the generating detection is frozen in.
 */
export function withRunValues(step: WorkflowStep, fieldOf: (placeholder: string) => string): WorkflowStep {
  let config: JsonValue = step.config
  for (const [pointer, placeholder] of Object.entries(step.placeholders ?? {})) config = replacedAt(config, pointer, `{{${fieldOf(placeholder)}}}`)
  return { ...step, config: config as WorkflowStep['config'] }
}

/** An IF node with one boolean condition (n8n's v2 IF format): output 0 when true, 1 when false. */
export function ifNode(id: string, name: string, condition: string, position: [number, number], notes: string): N8nNode {
  return {
    id,
    name,
    type: 'n8n-nodes-base.if',
    typeVersion: 2.2,
    position,
    parameters: {
      conditions: {
        options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
        conditions: [{ id: `${id}-condition`, leftValue: `={{ ${condition} }}`, rightValue: '', operator: { type: 'boolean', operation: 'true', singleValue: true } }],
        combinator: 'and',
      },
      options: {},
    },
    notes,
  }
}

/** JavaScript that is true when PATH (dotted) holds a value in the current item. */
export function hasPath(path: string): string {
  return `${JSON.stringify(path.split('.'))}.reduce((v, k) => (v === null || v === undefined ? v : v[k]), $json) !== undefined`
}

/** The error text of a failed item, whatever shape the node gave it; `fallback` when the item carries none (a guard sent it). */
export function errorText(fallback: string): string {
  return `($json.error === undefined ? ${jsString(fallback)} : typeof $json.error === "string" ? $json.error : ($json.error.message || JSON.stringify($json.error)))`
}

export function respondNode(id: string, name: string, body: string, position: [number, number], notes: string, responseCode?: JsonValue): N8nNode {
  return {
    id,
    name,
    type: 'n8n-nodes-base.respondToWebhook',
    typeVersion: 1.1,
    position,
    parameters: { respondWith: 'json', responseBody: `={{ JSON.stringify(${body}) }}`, options: responseCode === undefined ? {} : { responseCode } },
    notes,
  }
}
