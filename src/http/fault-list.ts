import { MAX_AUDIT_DETAIL } from '../audit/log.js'
import { MAX_LISTED_ERRORS } from '../contract/problem.js'
import { boundedText } from '../text/well-formed.js'
import type { FieldError } from './problem.js'

/**
 * What a problem answer repeats of a body is bounded, whatever the body: at most MAX_LISTED_ERRORS
 * faults (src/contract/problem.ts), each name, message and the detail cut to the sizes below. An
 * answer is then under 10 KB however many faults a body holds, and its audit entry under 2 KB.
 */

/** A field name quoted in an answer: enough to recognize it (a name that long is a mistake anyway). */
export const MAX_QUOTED_NAME_BYTES = 100
export const MAX_ERROR_MESSAGE_BYTES = 200
/** The detail answered is the detail audited: one bound (room for a git hook's 2000 characters of output), cut once. */
export const MAX_PROBLEM_DETAIL_BYTES = MAX_AUDIT_DETAIL

/**
 * The first MAX_LISTED_ERRORS of `items` as field errors, and how many there were. `describe`
 * (which may suggest a field, a per-fault cost) runs only for the listed ones.
 */
export function listedFieldErrors<T>(items: readonly T[], describe: (item: T) => FieldError): { errors: FieldError[]; count: number } {
  return { errors: items.slice(0, MAX_LISTED_ERRORS).map(describe), count: items.length }
}

/** "a, b, c" — or, beyond the cap, "a, b, … t and 73 980 more": each name bounded, for a problem's detail. */
export function namedList(names: readonly string[]): string {
  const listed = names.slice(0, MAX_LISTED_ERRORS).map(quotedName)
  return names.length > listed.length ? `${listed.join(', ')} and ${names.length - listed.length} more` : listed.join(', ')
}

export const quotedName = (name: string): string => boundedText(name, MAX_QUOTED_NAME_BYTES)

/** A field error as answered: its path and message bounded. */
export function boundedFieldError(error: FieldError): FieldError {
  return { ...error, path: quotedName(error.path), message: boundedText(error.message, MAX_ERROR_MESSAGE_BYTES) }
}
