import type { preValidationHookHandler } from 'fastify'
import { z } from 'zod'

type FieldKind = 'number' | 'boolean' | 'array' | 'number-or-string' | 'other'
// no two parts can match the same digits (linear, never backtracking over a long run); tested only on short strings
const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const MAX_DECIMAL_LENGTH = 64

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
      return value.length <= MAX_DECIMAL_LENGTH && DECIMAL.test(value.trim()) ? Number(value.trim()) : value
    case 'boolean':
      // exactly "true"/"false": anything else stays a string and fails validation, never a silent true/false
      return value === 'true' ? true : value === 'false' ? false : value
    case 'array':
      return value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    default:
      return value
  }
}

/**
 * Form bodies (Zapier, Make) carry only strings. This hook turns them into the JSON types the
 * route's schema expects — decimal strings into numbers, "true"/"false" into booleans,
 * comma lists into arrays — so one schema validates both encodings.
 */
export function formBodyCoercion(schema: z.ZodType): preValidationHookHandler {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>> }
  const kinds = Object.entries(json.properties ?? {}).map(([name, prop]) => [name, kindOf(prop)] as const)
  return async (request) => {
    if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) return
    const body = request.body
    if (body === null || typeof body !== 'object') return
    const fields = body as Record<string, unknown>
    for (const [name, kind] of kinds) {
      if (Object.hasOwn(fields, name)) fields[name] = coerce(fields[name], kind)
    }
  }
}

/**
 * POST /kpis from a form: the metrics arrive as flat fields (churn_rate=0.08, or metrics[churn_rate]=0.08)
 * and are gathered into `metrics` as numbers; the rest is coerced like any form body.
 */
export function kpiFormFields(schema: z.ZodType, metricNames: readonly string[]): preValidationHookHandler {
  const coerceTopLevel = formBodyCoercion(schema)
  return async function (request, reply) {
    if (!request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) return
    const fields = request.body as Record<string, unknown>
    if (fields === null || typeof fields !== 'object') return
    const metrics: Record<string, unknown> = {}
    for (const name of metricNames) {
      for (const key of [name, `metrics[${name}]`, `metrics.${name}`]) {
        if (!Object.hasOwn(fields, key)) continue
        const value = fields[key]
        metrics[name] = typeof value === 'string' ? coerce(value, 'number') : value
        delete fields[key]
      }
    }
    fields.metrics = metrics
    await coerceTopLevel.call(this, request, reply, () => {})
  }
}
