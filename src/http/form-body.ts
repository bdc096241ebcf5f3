import type { preValidationHookHandler } from 'fastify'
import { z } from 'zod'
import { splitCommaList } from '../contract/lenient.js'
import { decimalAsNumber } from '../contract/numbers.js'
import { listedFieldErrors, namedList } from './fault-list.js'
import { BadRequest } from './problem.js'

type FieldKind = 'number' | 'boolean' | 'array' | 'number-or-string' | 'other'

function kindOf(schema: Record<string, unknown>): FieldKind {
  const types = new Set<string>()
  const collect = (s: Record<string, unknown>) => {
    if (typeof s.type === 'string') types.add(s.type)
    for (const key of ['anyOf', 'oneOf'] as const) {
      const list = s[key]
      if (Array.isArray(list)) for (const sub of list) collect(sub as Record<string, unknown>)
    }
  }
  collect(schema)
  if (types.has('array')) return 'array'
  if (types.has('boolean')) return 'boolean'
  if ((types.has('number') || types.has('integer')) && types.has('string')) return 'number-or-string'
  if (types.has('number') || types.has('integer')) return 'number'
  return 'other'
}

function coerce(value: unknown, kind: FieldKind): unknown {
  if (typeof value !== 'string') return value // repeated keys arrive as arrays: only the array kind accepts them
  switch (kind) {
    case 'number':
    case 'number-or-string':
      return decimalAsNumber(value)
    case 'boolean':
      // exactly "true"/"false": anything else stays a string and fails validation, never a silent true/false
      return value === 'true' ? true : value === 'false' ? false : value
    case 'array':
      return splitCommaList(value)
    default:
      return value
  }
}

/** "affectedItems" and "affected-items" both mean affected_items. */
const normalized = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '')

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] as number) + 1, (next[j - 1] as number) + 1, (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    row = next
  }
  return row[b.length] as number
}

/** No field is named anything near this long: a longer name gets no suggestion, and costs none (normalizing scans it). */
const MAX_SUGGESTED_NAME = 64

/** The known field an unknown name most likely means, if one is close. */
function nearest(name: string, known: readonly string[]): string | undefined {
  if (name.length > MAX_SUGGESTED_NAME) return undefined
  const n = normalized(name.replace(/\[\]$/, ''))
  return known.find((k) => normalized(k) === n) ?? known.find((k) => distance(normalized(k), n) <= 2)
}

interface FieldRule {
  kind: FieldKind
  values: string[] | undefined
  optional: boolean
}

/**
 * What Zapier and Make really send, made to mean what it unambiguously means — one schema then
 * validates both encodings:
 * - form bodies carry only strings: decimal strings become numbers, "true"/"false" booleans,
 *   comma lists arrays, and `affected_items[]=a&affected_items[]=b` is `affected_items`;
 * - in JSON too, a decimal string for a number ("0.08"), a comma list for an array, any letter case
 *   of an enum ("High"), and an empty string for an optional field (`timestamp: ""`) are accepted;
 *   booleans stay strict (`dry_run` must be a JSON boolean: never a silent real commit);
 * - an unknown top-level field is a 400 naming it and the field it most likely means, rather than
 *   vanishing (`affectedItems` → "did you mean affected_items?").
 */
export function formBodyCoercion(schema: z.ZodType): preValidationHookHandler {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>>; required?: string[] }
  const rules = new Map<string, FieldRule>(
    Object.entries(json.properties ?? {}).map(([name, prop]) => [
      name,
      { kind: kindOf(prop), values: Array.isArray(prop.enum) ? (prop.enum as string[]) : undefined, optional: !(json.required ?? []).includes(name) },
    ]),
  )
  const known = [...rules.keys()]
  return async (request) => {
    const body = request.body
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return
    const isForm = request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded') ?? false
    const fields = body as Record<string, unknown>
    if (isForm) {
      for (const key of Object.keys(fields)) {
        if (!key.endsWith('[]') || !rules.has(key.slice(0, -2))) continue
        const name = key.slice(0, -2)
        fields[name] = [...[fields[name] ?? []].flat(), ...[fields[key]].flat()]
        delete fields[key]
      }
    }
    const unknown = Object.keys(fields).filter((key) => !rules.has(key))
    if (unknown.length > 0) {
      // a suggestion for the listed fields only: 74 000 unknown ones cost no more than 20
      const { errors, count } = listedFieldErrors(unknown, (key) => {
        const guess = nearest(key, known)
        return { path: key, in: 'body', message: guess ? `unknown field; did you mean ${guess}?` : `unknown field; the fields are ${known.join(', ')}` }
      })
      throw new BadRequest(`${count} unknown ${count === 1 ? 'field' : 'fields'} in the body: ${namedList(unknown)}`, errors, count)
    }
    for (const [name, rule] of rules) {
      if (!Object.hasOwn(fields, name)) continue
      const value = fields[name]
      // never for a boolean: dry_run must be said exactly, an empty one is refused, not defaulted
      if (rule.optional && value === '' && rule.kind !== 'boolean') {
        delete fields[name]
        continue
      }
      if (typeof value === 'string' && rule.values) {
        const match = rule.values.find((v) => v.toLowerCase() === value.trim().toLowerCase())
        if (match !== undefined) fields[name] = match
        continue
      }
      if (isForm || rule.kind === 'number' || rule.kind === 'array') fields[name] = coerce(value, rule.kind === 'boolean' && !isForm ? 'other' : rule.kind)
    }
  }
}

/**
 * POST /kpis, JSON or form, made to follow the same rules as POST /issues: in a form the metrics
 * arrive as flat fields (churn_rate=0.08, or metrics[churn_rate]=0.08) and are gathered into
 * `metrics`; in either encoding a metric sent as a decimal string is that number (the schema, decimalNumber, reads it), and the top level
 * is coerced (and its unknown fields refused) like any body. A metric named twice — two spellings,
 * or one field repeated — is a 400, never last-wins.
 */
export function kpiBodyCoercion(schema: z.ZodType, metricNames: readonly string[]): preValidationHookHandler {
  const coerceTopLevel = formBodyCoercion(schema)
  return async function (request, reply) {
    const fields = request.body as Record<string, unknown> | null
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) return
    const isForm = request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded') ?? false
    if (isForm) fields.metrics = gatherFormMetrics(fields, metricNames)
    await coerceTopLevel.call(this, request, reply, () => {})
  }
}

/** The metrics of a form body, taken out of its flat fields; a metric given twice is refused. */
function gatherFormMetrics(fields: Record<string, unknown>, metricNames: readonly string[]): Record<string, unknown> {
  const metrics: Record<string, unknown> = {}
  const twice: string[] = []
  for (const name of metricNames) {
    const spellings = [name, `metrics[${name}]`, `metrics.${name}`].filter((key) => Object.hasOwn(fields, key))
    const values = spellings.flatMap((key) => [fields[key]].flat())
    for (const key of spellings) delete fields[key]
    if (values.length > 1) twice.push(`${name} (${spellings.length > 1 ? `as ${spellings.join(' and ')}` : 'repeated'})`)
    else if (values.length === 1) metrics[name] = values[0]
  }
  if (twice.length > 0) {
    throw new BadRequest(
      `A metric is sent more than once in the form body: ${twice.join(', ')}`,
      twice.map((what) => ({ path: `metrics.${what.split(' ')[0] as string}`, in: 'body' as const, message: 'sent more than once; send each metric once' })),
    )
  }
  return metrics
}
