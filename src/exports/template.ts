import type { PromptTemplate, Workflow } from '../contract/workflow.js'
import { DATA_CLOSE, DATA_OPEN, dataJson, PROMPT_SYSTEM_MESSAGE } from '../generate/prompt-data.js'
import { FIELD_REFERENCE } from '../playbooks/data-flow.js'
import type { JsonValue } from '../playbooks/schema.js'
import { MAPPING_PLACEHOLDER } from './mapping.js'

/**
 * The platform-neutral half of every exporter: a text is a list of pieces, literal text or an
 * expression in the platform's language; a dialect says how to write references and pieces.
 */
export type Piece = { text: string } | { expr: string }

export interface Dialect {
  /** the platform's expression for a field of the opportunity, a setting or an earlier step */
  ref(field: string): string
  /** the expression for PATH in the output of node N of the entry being filled */
  nodeRef(node: number, path: string): string
  /** a parameter string mixing text and expressions */
  string(pieces: Piece[]): JsonValue
  /** a config value that is not a string (array, object, number…), its `{{field}}` reads wired */
  structured(value: JsonValue): JsonValue
  /** the config as a JSON request body */
  body(config: Record<string, JsonValue>): JsonValue
  /**
   * a prompt variable's value (read by `pieces`) as data: pieces that write it as a JSON value
   * that cannot hold `<` or `>` (src/generate/prompt-data.ts), so no value can end its `<data>` block
   */
  data(pieces: Piece[], variable: string): Piece[]
}

export type WorkflowStep = Workflow['steps'][number]

/**
 * The matches of a pattern in a text, kept: exporters fill the same mapping templates and
 * prompt templates for every workflow, and a regex scan of each was a fifth of an export's time.
 * Only texts from the mapping files and the prompt templates come here (never request data), so
 * the kept set is small; it is emptied should it ever grow past a bound.
 */
const MATCH_CACHE_LIMIT = 10_000
const matchCache = new Map<RegExp, Map<string, readonly RegExpExecArray[]>>()
function matchesOf(text: string, pattern: RegExp): readonly RegExpExecArray[] {
  let cache = matchCache.get(pattern)
  if (!cache) matchCache.set(pattern, (cache = new Map()))
  let found = cache.get(text)
  if (!found) {
    if (cache.size >= MATCH_CACHE_LIMIT) cache.clear()
    cache.set(text, (found = [...text.matchAll(pattern)]))
  }
  return found
}

/** Templates (mapping subtrees) with no placeholder anywhere: filled, they are themselves. */
const placeholderFree = new WeakMap<object, boolean>()
function hasPlaceholder(template: JsonValue): boolean {
  if (typeof template === 'string') return matchesOf(template, MAPPING_PLACEHOLDER).length > 0
  if (template === null || typeof template !== 'object') return false
  let free = placeholderFree.get(template)
  if (free === undefined) {
    free = !(Array.isArray(template) ? template.some(hasPlaceholder) : Object.values(template).some(hasPlaceholder))
    placeholderFree.set(template, free)
  }
  return !free
}

/** A config string's pieces: its `{{field}}` reads become the dialect's references. */
export function piecesOf(text: string, dialect: Pick<Dialect, 'ref'>): Piece[] {
  // not kept in the match cache: a playbook value such as $affected_items brings request data here
  if (!text.includes('{{')) return text === '' ? [] : [{ text }]
  const pieces: Piece[] = []
  let last = 0
  for (const match of text.matchAll(FIELD_REFERENCE)) {
    if (match.index > last) pieces.push({ text: text.slice(last, match.index) })
    pieces.push({ expr: dialect.ref(match[1] as string) })
    last = match.index + match[0].length
  }
  if (last < text.length) pieces.push({ text: text.slice(last) })
  return pieces
}

const PROMPT_VARIABLE = /\{\{\s*([^{}]*?)\s*\}\}/g

/**
 * The prompt template with each variable replaced by its source (the AI step's config.variables)
 * marked as data: `<data>`, the value as the dialect writes it as JSON, `</data>`. A value known
 * now (no field read) is written here, once, for every platform.
 */
export function promptPieces(prompt: PromptTemplate, step: WorkflowStep, dialect: Pick<Dialect, 'ref' | 'data'>): Piece[] {
  const sources = (step.config['variables'] ?? {}) as Record<string, JsonValue>
  const pieces: Piece[] = []
  let last = 0
  for (const match of matchesOf(prompt.template, PROMPT_VARIABLE)) {
    if (match.index > last) pieces.push({ text: prompt.template.slice(last, match.index) })
    const variable = match[1] as string
    const source = sources[variable]
    const read = typeof source === 'string' ? piecesOf(source, dialect) : []
    const value = read.some((p) => 'expr' in p) ? dialect.data(read, variable) : [{ text: dataJson(typeof source === 'string' ? source : (source ?? null)) }]
    pieces.push({ text: DATA_OPEN }, ...value, { text: DATA_CLOSE })
    last = match.index + match[0].length
  }
  if (last < prompt.template.length) pieces.push({ text: prompt.template.slice(last) })
  return pieces
}

/** True when a JSON value reads any field. */
export function readsFields(value: JsonValue): boolean {
  if (typeof value === 'string') return new RegExp(FIELD_REFERENCE.source).test(value)
  if (Array.isArray(value)) return value.some(readsFields)
  if (value !== null && typeof value === 'object') return Object.values(value).some(readsFields)
  return false
}

export interface FillContext {
  dialect: Dialect
  step: WorkflowStep
  title: string
  workflowName: string
  prompt: PromptTemplate
}

/** The request body of an HTTP step: its config without the URL it is sent to. */
export function bodyOf(config: Record<string, JsonValue>): Record<string, JsonValue> {
  return Object.fromEntries(Object.entries(config).filter(([key]) => key !== 'endpoint'))
}

function inlinePieces(token: string, ctx: FillContext): Piece[] {
  const { dialect, step } = ctx
  if (token.startsWith('config.')) {
    const value = step.config[token.slice('config.'.length)] ?? null
    return typeof value === 'string' ? piecesOf(value, dialect) : [{ text: JSON.stringify(value) }]
  }
  if (token === 'prompt') return promptPieces(ctx.prompt, step, dialect)
  if (token === 'prompt.system') return [{ text: PROMPT_SYSTEM_MESSAGE }]
  if (token.startsWith('ref:')) {
    const [, node, path] = token.split(':') as [string, string, string]
    return [{ expr: dialect.nodeRef(Number(node), path) }]
  }
  if (token === 'step.title') return [{ text: ctx.title }]
  if (token === 'step.description') return [{ text: step.description }]
  if (token === 'workflow.name') return [{ text: ctx.workflowName }]
  return [{ text: JSON.stringify(step.config) }] // body, inside a longer text
}

function wholeValue(token: string, ctx: FillContext): JsonValue {
  if (token === 'body') return ctx.dialect.body(bodyOf(ctx.step.config))
  if (token.startsWith('config.')) {
    const value = ctx.step.config[token.slice('config.'.length)] ?? null
    if (typeof value !== 'string') return readsFields(value) ? ctx.dialect.structured(value) : value
  }
  return ctx.dialect.string(inlinePieces(token, ctx))
}

/** PURE: a mapping template with its placeholders filled for one step. */
export function fillTemplate(template: JsonValue, ctx: FillContext): JsonValue {
  if (typeof template === 'string') {
    const tokens = matchesOf(template, MAPPING_PLACEHOLDER)
    if (tokens.length === 0) return template
    const only = tokens[0]
    if (tokens.length === 1 && only && only[0] === template) return wholeValue(only[1] as string, ctx)
    const pieces: Piece[] = []
    let last = 0
    for (const match of tokens) {
      if (match.index > last) pieces.push({ text: template.slice(last, match.index) })
      pieces.push(...inlinePieces(match[1] as string, ctx))
      last = match.index + match[0].length
    }
    if (last < template.length) pieces.push({ text: template.slice(last) })
    return ctx.dialect.string(pieces)
  }
  // shared, not copied: nothing downstream changes a filled template, it is only serialized
  if (!hasPlaceholder(template)) return template
  if (Array.isArray(template)) return template.map((item) => fillTemplate(item, ctx))
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, fillTemplate(value, ctx)]))
  }
  return template
}

/** "query_database" → "Query database": node and module titles. */
export function titleOf(action: string): string {
  const words = action.replaceAll('_', ' ')
  return words.charAt(0).toUpperCase() + words.slice(1).replace(/\bai\b/, 'AI').replace(/\bab\b/, 'A/B').replace(/\bops\b/, 'ops')
}

/** Unique titles for the steps, in order ("Send email", "Send email 2", …). */
export function stepTitles(steps: readonly WorkflowStep[]): string[] {
  const seen = new Map<string, number>()
  return steps.map((step) => {
    const base = titleOf(step.action)
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    return n === 1 ? base : `${base} ${n}`
  })
}

/** Index of the step that turns one item into many, or -1. */
export function listStepIndex(steps: readonly WorkflowStep[]): number {
  return steps.findIndex((s) => s.produces?.list === true)
}

/** Renders a JSON value for a setup line: short and readable. */
export function shortValue(value: JsonValue): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.length > 80 ? `${text.slice(0, 77)}…` : text
}
