import type { AuditEntry } from '../contract/audit.js'
import type { Db } from '../store/database.js'
import { selectPage } from '../store/page.js'
import { GENESIS_HASH, canonicalJson, hashEntry, verifyChain, type UnhashedEntry } from './chain.js'

/** What a request contributes to its audit entry; seq and the hashes are assigned here. */
export type AuditFacts = Omit<UnhashedEntry, 'seq' | 'prev_hash'>

export interface AuditFilter {
  workflowId?: string | undefined
  operation?: string | undefined
  since?: string | undefined
  limit: number
  beforeSeq?: number | undefined
}

interface AuditRow {
  seq: number
  entry: string
  hash: string
}

const toEntry = (row: AuditRow): AuditEntry => ({ ...(JSON.parse(row.entry) as UnhashedEntry), hash: row.hash })

/** The append-only, hash-chained audit log in SQLite. */
export class AuditLog {
  private readonly appendTx

  constructor(private readonly db: Db) {
    const head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')
    // at, workflow_id and operation are generated from the entry (migration 4)
    const insert = db.prepare('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)')
    // IMMEDIATE takes the write lock before reading the head, so two writers can never chain onto the same entry.
    this.appendTx = db.transaction((facts: AuditFacts): AuditEntry => {
      const last = head.get() as { seq: number; hash: string } | undefined
      const unhashed: UnhashedEntry = { ...facts, seq: (last?.seq ?? 0) + 1, prev_hash: last?.hash ?? GENESIS_HASH }
      const hash = hashEntry(unhashed)
      insert.run(unhashed.seq, canonicalJson(unhashed), hash)
      return { ...unhashed, hash }
    })
  }

  append(facts: AuditFacts): AuditEntry {
    return this.appendTx.immediate(facts)
  }

  list(filter: AuditFilter): { items: AuditEntry[]; next_cursor: string | null } {
    const { rows, next_cursor } = selectPage<AuditRow>(
      this.db,
      'SELECT seq, entry, hash FROM audit',
      [
        ['workflow_id', '=', filter.workflowId],
        ['operation', '=', filter.operation],
        ['at', '>=', filter.since && new Date(filter.since).toISOString()],
      ],
      filter.limit,
      filter.beforeSeq,
    )
    return { items: rows.map(toEntry), next_cursor }
  }

  verify(): ReturnType<typeof verifyChain> {
    const rows = this.db.prepare('SELECT seq, entry, hash FROM audit ORDER BY seq ASC').iterate() as IterableIterator<AuditRow>
    return verifyChain(
      (function* () {
        for (const row of rows) {
          let entry: AuditEntry
          try {
            entry = toEntry(row)
          } catch {
            // unparseable JSON is tampering too: give verifyChain an entry that cannot match
            entry = { seq: row.seq, hash: row.hash, prev_hash: '' } as AuditEntry
          }
          yield { ...entry, seq: row.seq }
        }
      })(),
    )
  }

  lastEntry(): AuditEntry | undefined {
    const row = this.db.prepare('SELECT seq, entry, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as AuditRow | undefined
    return row && toEntry(row)
  }
}
