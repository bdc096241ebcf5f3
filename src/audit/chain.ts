import { hash } from 'node:crypto'
import type { AuditEntry } from '../contract/audit.js'

export const GENESIS_HASH = '0'.repeat(64)

/** JSON with object keys sorted at every depth, so the same entry always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export type UnhashedEntry = Omit<AuditEntry, 'hash'>

/** hash = sha256(prev_hash ‖ "\n" ‖ the stored canonical JSON), over the stored text as it is. */
export function hashStoredEntry(prevHash: string, text: string): string {
  return hash('sha256', `${prevHash}\n${text}`, 'hex')
}

/** hash = sha256(prev_hash ‖ canonical JSON of the entry, prev_hash and seq included). */
export function hashEntry(entry: UnhashedEntry): string {
  return hashStoredEntry(entry.prev_hash, canonicalJson(entry))
}

/**
 * The seq inside a stored entry's canonical JSON, read without parsing it. `,"seq":` cannot occur
 * inside a JSON string (a quote there is always escaped), and no member but the top-level seq has
 * that name, so the one match is it; it sits near the end (only status, user_agent and workflow_id
 * sort after it), so the search starts there.
 */
export function hashedSeq(text: string): number | undefined {
  const at = text.lastIndexOf(',"seq":')
  if (at === -1) return undefined
  let seq = 0
  let i = at + 7
  for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) seq = seq * 10 + (c - 48)
  return i > at + 7 ? seq : undefined
}

/** The prev_hash inside a stored entry's canonical JSON (only read to explain a failure). */
export function hashedPrevHash(text: string): string | undefined {
  const at = text.indexOf(',"prev_hash":"')
  return at === -1 ? undefined : text.slice(at + 14, at + 14 + 64)
}
