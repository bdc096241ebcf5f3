import type { AuditEntry, AuditHead, AuditVerification } from '../contract/audit.js'
import type { Db } from '../store/database.js'
import { selectPage } from '../store/page.js'
import { GENESIS_HASH, canonicalJson, hashStoredEntry, type UnhashedEntry } from './chain.js'
import { verifyAuditLog, type VerifiedPosition } from './verify.js'

/** What a request contributes to its audit entry; seq and the hashes are assigned here. */
export type AuditFacts = Omit<UnhashedEntry, 'seq' | 'prev_hash'>

export interface AuditFilter {
  workflowId?: string | undefined
  operation?: string | undefined
  since?: string | undefined
  limit: number
  beforeSeq?: number | undefined
}

/** Where tampering lines go: the app's logger once it exists. */
export interface AuditLogger {
  info(fields: object, msg: string): void
  warn(fields: object, msg: string): void
  error(fields: object, msg: string): void
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
  private readonly hashAt
  /** the last entry this process appended: at the next append the database's newest entry must still be it */
  private written: AuditHead | undefined
  /** the last append, until its transaction is known to have committed (see settle) */
  private pending: { head: AuditHead } | undefined
  /** where the last verify's walk stopped, in this process' memory only */
  private verified: VerifiedPosition | undefined
  private log: AuditLogger | undefined

  constructor(private readonly db: Db) {
    const head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')
    const highWater = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").pluck()
    // at, workflow_id and operation are generated from the entry (migration 4)
    const insert = db.prepare('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)')
    this.hashAt = db.prepare('SELECT hash FROM audit WHERE seq = ?').pluck()
    // IMMEDIATE takes the write lock before reading the head, so two writers can never chain onto the same entry.
    this.appendTx = db.transaction((facts: AuditFacts) => {
      const last = head.get() as AuditHead | undefined
      // Someone else changed the newest entry (a truncation, a rewrite): chain onto what this process
      // wrote, so the change stays visible as a break, and never reuse a seq.
      const changed = this.written && (last?.seq !== this.written.seq || last.hash !== this.written.hash) ? { found: last ?? null, expected: this.written } : undefined
      const prev = changed ? this.written : last
      const seq = Math.max((highWater.get() as number | undefined) ?? 0, last?.seq ?? 0, this.written?.seq ?? 0) + 1
      const unhashed: UnhashedEntry = { ...facts, seq, prev_hash: prev?.hash ?? GENESIS_HASH }
      const text = canonicalJson(unhashed)
      const hash = hashStoredEntry(unhashed.prev_hash, text)
      insert.run(seq, text, hash)
      return { entry: { ...unhashed, hash }, changed }
    })
  }

  /**
   * May run inside a caller's transaction (the entry then commits with the request's other writes):
   * the head this process vouches for moves only once that commit has happened: by the next turn of
   * the event loop (transactions are synchronous), or the next append, whichever comes first. One
   * append per caller transaction: a second one in the same transaction would take the first as
   * committed before it is.
   */
  append(facts: AuditFacts): AuditEntry {
    this.settle()
    const { entry, changed } = this.appendTx.immediate(facts)
    if (changed) {
      this.log?.error({ audit_head: changed }, 'audit log changed outside the service: its newest entry is not the one this process wrote; the new entry chains onto the one it wrote')
    }
    this.pending = { head: { seq: entry.seq, hash: entry.hash } }
    if (this.db.inTransaction) setImmediate(() => this.settle())
    else this.settle()
    return entry
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

  /** From where the last verify stopped, unless `full` (see verifyAuditLog). */
  async verify(options: { full?: boolean | undefined } = {}): Promise<AuditVerification> {
    const { result, position } = verifyAuditLog(this.db, options.full ? undefined : this.verified)
    this.verified = position
    return result
  }

  lastEntry(): AuditEntry | undefined {
    const row = this.db.prepare('SELECT seq, entry, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as AuditRow | undefined
    return row && toEntry(row)
  }

  /** Called once the app's logger exists. */
  start(log: AuditLogger): void {
    this.log = log
  }

  /** The last append's transaction has ended: if its entry is stored, it is the head this process vouches for. */
  private settle(): void {
    const appended = this.pending
    if (!appended || !this.db.open) return
    this.pending = undefined
    if (this.hashAt.get(appended.head.seq) === appended.head.hash) this.written = appended.head
  }
}
