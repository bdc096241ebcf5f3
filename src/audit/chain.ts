import { createHash } from 'node:crypto'
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

/** hash = sha256(prev_hash ‖ canonical JSON of the entry, prev_hash and seq included). */
export function hashEntry(entry: UnhashedEntry): string {
  return createHash('sha256').update(entry.prev_hash).update('\n').update(canonicalJson(entry)).digest('hex')
}

/**
 * Walks the chain oldest-first. An entry is bad when its content no longer matches its hash,
 * or its prev_hash is not the previous entry's hash (a deletion or reordering).
 */
export function verifyChain(entries: Iterable<AuditEntry>): { ok: true; entries: number; head_hash: string | null } | { ok: false; entries: number; head_hash: string | null; first_bad_seq: number } {
  let prev = GENESIS_HASH
  let count = 0
  let head: string | null = null
  for (const entry of entries) {
    count++
    const { hash, ...unhashed } = entry
    if (entry.prev_hash !== prev || hashEntry(unhashed) !== hash) {
      return { ok: false, entries: count, head_hash: head, first_bad_seq: entry.seq }
    }
    prev = hash
    head = hash
  }
  return { ok: true, entries: count, head_hash: head }
}
