import { createPublicKey } from 'node:crypto'
import type { AuditEntry, AuditHead, AuditVerification } from '../contract/audit.js'
import type { Config } from '../config.js'
import type { Db } from '../store/database.js'
import { selectPage } from '../store/page.js'
import { GENESIS_HASH, canonicalJson, hashStoredEntry, type UnhashedEntry } from './chain.js'
import { appendCheckpoints, checkSignature, readCheckpointFile, signCheckpoint, type Checkpoint } from './checkpoint.js'
import { AuditVerifier } from './verifier.js'

/** What a request contributes to its audit entry; seq and the hashes are assigned here. */
export type AuditFacts = Omit<UnhashedEntry, 'seq' | 'prev_hash'>

export interface AuditFilter {
  workflowId?: string | undefined
  operation?: string | undefined
  since?: string | undefined
  limit: number
  beforeSeq?: number | undefined
}

export type AuditOptions = Pick<Config, 'auditSigningKey' | 'auditCheckpointEvery' | 'auditCheckpointFile'>

/** Where checkpoint and tampering lines go: the app's logger once it exists. */
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

/** The append-only, hash-chained audit log in SQLite, anchored by signed checkpoints when a key is configured. */
export class AuditLog {
  private readonly appendTx
  private readonly storeCheckpoint
  private readonly hashAt
  private readonly verifier: AuditVerifier
  /** the last entry this process appended: at the next append the database's newest entry must still be it */
  private written: AuditHead | undefined
  /** the last append, until its transaction is known to have committed (see settle) */
  private pending: { head: AuditHead; checkpoint: Checkpoint | undefined } | undefined
  private lastCheckpointSeq: number
  /** while the app drains at shutdown, every entry is checkpointed, so the last one is anchored too */
  private closing = false
  private log: AuditLogger | undefined

  constructor(
    private readonly db: Db,
    private readonly options: AuditOptions = { auditSigningKey: undefined, auditCheckpointEvery: 1000, auditCheckpointFile: undefined },
  ) {
    const head = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')
    const highWater = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").pluck()
    const insert = db.prepare('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)')
    const insertCheckpoint = db.prepare('INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (@seq, @hash, @at, @key_id, @signature)')
    this.storeCheckpoint = (checkpoint: Checkpoint) => insertCheckpoint.run(checkpoint)
    this.hashAt = db.prepare('SELECT hash FROM audit WHERE seq = ?').pluck()
    // bounded by the newest entry: a forged row far ahead must not hold back the next checkpoints
    this.lastCheckpointSeq = (db.prepare('SELECT min(max(seq), (SELECT max(seq) FROM audit)) FROM audit_checkpoints').pluck().get() as number | null) ?? 0
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
      const checkpoint = this.dueCheckpoint({ seq, hash })
      if (checkpoint) this.storeCheckpoint(checkpoint)
      return { entry: { ...unhashed, hash }, checkpoint, changed }
    })
    this.verifier = new AuditVerifier({
      databaseFile: db.name,
      publicKeyPem: options.auditSigningKey && (createPublicKey(options.auditSigningKey).export({ type: 'spki', format: 'pem' }) as string),
      checkpointFile: options.auditCheckpointFile,
    })
  }

  /**
   * May run inside a caller's transaction (the entry then commits with the request's other writes):
   * what depends on the commit — the head this process vouches for, publishing a checkpoint — waits
   * until it has happened: by the next turn of the event loop (transactions are synchronous), or the
   * next append, whichever comes first. One append per caller transaction: a second one in the same
   * transaction would take the first as committed before it is.
   */
  append(facts: AuditFacts): AuditEntry {
    this.settle()
    const { entry, checkpoint, changed } = this.appendTx.immediate(facts)
    if (changed) {
      this.log?.error({ audit_head: changed }, 'audit log changed outside the service: its newest entry is not the one this process wrote; the new entry chains onto the one it wrote')
    }
    this.pending = { head: { seq: entry.seq, hash: entry.hash }, checkpoint }
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

  /**
   * The newest entry — the one this process wrote last, else the database's newest — for a caller
   * to carry outside the database, e.g. as an `Audit-Head: <seq> <hash>` commit trailer (auditHeadTrailer).
   */
  head(): AuditHead | null {
    this.settle()
    return this.written ?? (this.db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as AuditHead | undefined) ?? null
  }

  /** On a thread of its own; see AuditVerifier and verifyAuditLog. */
  verify(options: { full?: boolean | undefined; anchor?: AuditHead | undefined } = {}): Promise<AuditVerification> {
    return this.verifier.verify({ full: options.full ?? false, anchor: options.anchor })
  }

  lastEntry(): AuditEntry | undefined {
    const row = this.db.prepare('SELECT seq, entry, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as AuditRow | undefined
    return row && toEntry(row)
  }

  /**
   * Called once the app's logger exists. Finishes what a crash interrupted: a checkpoint commits to the
   * database first and is appended to AUDIT_CHECKPOINT_FILE after, so the file may lack the newest ones.
   */
  start(log: AuditLogger): void {
    this.log = log
    const { auditSigningKey: key, auditCheckpointFile: file } = this.options
    if (!key || !file) return
    const found = readCheckpointFile(file)
    const inFile = found.checkpoints.reduce((max, c) => Math.max(max, c.seq), 0)
    const publicKey = createPublicKey(key)
    const missing = (this.db.prepare('SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq > ? ORDER BY seq').all(inFile) as Checkpoint[]).filter(
      (c) => checkSignature(publicKey, c) === 'valid',
    )
    if (found.tornTail) log.warn({ file }, 'the last line of AUDIT_CHECKPOINT_FILE was cut short (a crash mid-append); it is left as it is and verify reports it')
    if (missing.length > 0 || !found.exists || found.tornTail) appendCheckpoints(file, missing, found.tornTail)
    for (const checkpoint of missing) log.warn({ audit_checkpoint: checkpoint, recovered: true }, 'audit checkpoint')
  }

  /** preClose: anchor the newest entry now, and every entry the draining requests still add. */
  beginShutdown(): void {
    this.settle()
    this.closing = true
    const head = this.written
    const checkpoint = head && this.dueCheckpoint(head)
    if (!checkpoint) return
    this.storeCheckpoint(checkpoint)
    this.lastCheckpointSeq = checkpoint.seq
    this.publish([checkpoint])
  }

  /** onClose: stops the verifier thread. */
  close(): Promise<void> {
    return this.verifier.close()
  }

  /**
   * The last append's transaction has ended: if its entry is stored, it is the head this process
   * vouches for and its checkpoint goes to the file and the log; if it rolled back, both are dropped.
   * A caller that appended inside its own transaction calls this once that transaction is over.
   */
  settle(): void {
    const appended = this.pending
    if (!appended || !this.db.open) return
    this.pending = undefined
    if (this.hashAt.get(appended.head.seq) !== appended.head.hash) return
    this.written = appended.head
    if (!appended.checkpoint) return
    this.lastCheckpointSeq = appended.checkpoint.seq
    this.publish([appended.checkpoint])
  }

  /** A signed checkpoint of `head` when one is due: every AUDIT_CHECKPOINT_EVERY entries, and while closing. */
  private dueCheckpoint(head: AuditHead): Checkpoint | undefined {
    const key = this.options.auditSigningKey
    if (!key || head.seq <= this.lastCheckpointSeq) return undefined
    if (!this.closing && head.seq - this.lastCheckpointSeq < this.options.auditCheckpointEvery) return undefined
    return signCheckpoint(key, new Date().toISOString(), head)
  }

  /** After the database commit: the file (fsynced), then the log line. */
  private publish(checkpoints: Checkpoint[]): void {
    const file = this.options.auditCheckpointFile
    if (file) {
      try {
        appendCheckpoints(file, checkpoints)
      } catch (err) {
        // the database has them: the next start appends them to the file
        this.log?.error({ err, file }, 'could not append to AUDIT_CHECKPOINT_FILE')
      }
    }
    for (const checkpoint of checkpoints) this.log?.info({ audit_checkpoint: checkpoint }, 'audit checkpoint')
  }
}

/** The commit trailer that carries the audit head outside the database: `Audit-Head: <seq> <hash>`. */
export function auditHeadTrailer(head: AuditHead): string {
  return `Audit-Head: ${head.seq} ${head.hash}`
}
