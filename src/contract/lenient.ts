import { z } from 'zod'

/**
 * The spellings integrations really send (Zapier and Make fill fields from text), accepted by the
 * schema itself: the input side of each is what the OpenAPI document offers, the output the one
 * canonical value the service works with. The form hook (src/http/form-body.ts) only turns form
 * strings into JSON types; it adds no spelling of its own.
 */

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** "High" → "[hH][iI][gG][hH]": JSON Schema patterns have no flags, so case-insensitivity is spelled out. */
function anyCase(value: string): string {
  return [...value].map((c) => (c.toLowerCase() === c.toUpperCase() ? escapeRegExp(c) : `[${c.toLowerCase()}${c.toUpperCase()}]`)).join('')
}

/** One of `values` in any letter case, surrounding spaces ignored ("High " is high); the output is the value as listed. */
export function anyCaseEnum<const T extends string>(values: readonly [T, ...T[]]) {
  const message = `Invalid option: expected one of ${values.map((v) => `"${v}"`).join('|')} (any letter case)`
  const spelled = new RegExp(`^\\s*(?:${values.map(anyCase).join('|')})\\s*$`)
  return z
    .union([z.enum(values), z.string().regex(spelled, { error: message })], { error: message })
    .transform((given) => values.find((v) => v.toLowerCase() === given.trim().toLowerCase()) as T)
}

/** "a, b,,c" → ["a", "b", "c"]: the comma list a form field or a text-only integration sends for an array. */
export function splitCommaList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

/** An array of `item`, or the same as a comma-separated string. */
export function listOrCommaList(item: z.ZodString, maxItems: number) {
  const list = z.array(item).max(maxItems)
  return z
    .union([list, z.string().describe('The same as a comma-separated list, e.g. "cust_1,cust_2"')])
    .transform((given) => (typeof given === 'string' ? splitCommaList(given) : given))
    .pipe(list)
}

/** An optional field sent empty (`timestamp: ""`, as a form or a template with nothing to fill sends it) is not given. */
export function emptyMeansAbsent<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.literal('').describe('Empty: the same as not sent')]).transform((given) => (given === '' ? undefined : given) as Exclude<z.output<T>, ''> | undefined)
}
