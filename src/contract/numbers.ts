import { z } from 'zod'

/**
 * One set of rules for the numbers a detection carries, shared by POST /issues (`metric_value`)
 * and POST /kpis (each metric), in JSON and form bodies alike: a number, or a decimal string that
 * means one (form bodies carry only strings, and Zapier and Make send "0.08" in JSON too).
 * A percentage ("8%") is refused with the fraction to send instead, never read as 8.
 */

// no two parts can match the same digits (linear, never backtracking over a long run); tested only on short strings
export const DECIMAL = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
export const PERCENT = /^(-?(?:\d+(?:\.\d*)?|\.\d+))\s*%$/
const MAX_DECIMAL_LENGTH = 64

/** A decimal string as the number it means; anything else (a percentage, a word, a non-string) unchanged, for the schema to refuse. */
export function decimalAsNumber(value: unknown): unknown {
  if (typeof value !== 'string' || value.length > MAX_DECIMAL_LENGTH) return value
  const trimmed = value.trim()
  return DECIMAL.test(trimmed) ? Number(trimmed) : value
}

/** "send 0.08 for 8%" when `input` is a percentage, else undefined. */
export function percentHint(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_DECIMAL_LENGTH) return undefined
  const percent = PERCENT.exec(input.trim())
  if (!percent) return undefined
  const digits = percent[1] as string
  // 12.5 / 100 is 0.125, but 14.1 / 100 is 0.14100000000000001: round away float noise for the hint
  const fraction = Number((Number(digits) / 100).toPrecision(12))
  return `send ${fraction} for ${digits}%`
}

/** The message for a value that is not a number: the fraction to send when it is a percentage, else `otherwise`. */
export function notANumber(field: string, input: unknown, otherwise: string): string {
  const hint = percentHint(input)
  return hint === undefined ? otherwise : `${field} is a fraction, not a percentage: ${hint}`
}

/** decimalAsNumber's test as a JSON Schema pattern: the spaces it trims are spelled out, since a pattern is not trimmed first. */
const DECIMAL_STRING = new RegExp(`^\\s*${DECIMAL.source.slice(1, -1)}\\s*$`)

/**
 * A number, or a decimal string that means one ("0.08"), as one schema: its input side is what the
 * OpenAPI document offers (number, or a string with the pattern), its output the number. The form
 * hook turns decimal strings into numbers first; a JSON body's string is turned here.
 */
export function decimalNumber(field: string, otherwise: string) {
  const error = (issue: { input?: unknown }) => notANumber(field, issue.input, otherwise)
  return z
    .union([z.number(), z.string().max(MAX_DECIMAL_LENGTH, { error }).regex(DECIMAL_STRING, { error })], { error })
    .transform((value) => (typeof value === 'number' ? value : Number(value.trim())))
    .pipe(z.number({ error: () => `${field} is too large to be a number: ${otherwise}` }))
    .describe('A number, or a decimal string that means one ("0.08")')
}
