import { createPublicKey } from 'node:crypto'
import type { AuditEntry, AuditHead, AuditVerification } from '../contract/audit.js'
import type { Config } from '../config.js'
import type { StoreLocation } from '../store/open.js'
import type { SqlDatabase, SqlSession } from '../store/sql.js'
import { boundedText, wellFormed } from '../text/well-formed.js'
import { selectPage } from '../store/page.js'
import { GENESIS_HASH, canonicalJson, hashStoredEntry, type UnhashedEntry } from './chain.js'
import { CHAIN_RULES } from './chain-sql.js'
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

/**
 * The most UTF-8 bytes an entry's detail keeps. A detail quotes what a caller sent (a field name, an
 * error): without a bound one request at the rate limit could store megabytes. The start is kept
 * (problem details begin with their count of faults), then how much was left off.
 */
export const MAX_AUDIT_DETAIL = 2048

/**
 * Every string as well-formed UTF-16: a lone surrogate (a caller's field name, quoted in a
 * detail) becomes U+FFFD. The stored entry is then valid JSON for every database — PostgreSQL's
 * JSON parser, which reads the filter columns, refuses a lone surrogate escape — and for every reader.
 * The detail is bounded here, where every entry passes, whoever set it.
 */
function storable(facts: AuditFacts): AuditFacts {
  const clean = (value: unknown): unknown => (typeof value === 'string' ? wellFormed(value) : Array.isArray(value) ? value.map(clean) : value)
  const entry = Object.fromEntries(Object.entries(facts).map(([key, value]) => [key, clean(value)])) as AuditFacts
  return { ...entry, detail: entry.detail === null ? null : boundedText(entry.detail, MAX_AUDIT_DETAIL) }
}

const toEntry = (row: AuditRow): AuditEntry => ({ ...(JSON.parse(row.entry) as UnhashedEntry), hash: row.hash })

/** The newest entry. */
const HEAD_SQL = 'SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1'

/** The append-only, hash-chained audit log in the database, anchored by signed checkpoints when a key is configured. */
export class AuditLog {
  private readonly verifier: AuditVerifier
  /** the last entry this process appended: at the next append the database's newest entry must still be it */
  private written: AuditHead | undefined
  /** appends whose transaction is not known to have committed yet (see settled) */
  private readonly pending = new Map<number, { head: AuditHead; checkpoint: Checkpoint | undefined }>()
  private lastCheckpointSeq = 0
  /** while the app drains at shutdown, every entry is checkpointed, so the last one is anchored too */
  private closing = false
  private log: AuditLogger | undefined

  constructor(
    private readonly db: SqlDatabase,
    private readonly options: AuditOptions & { store: StoreLocation },
  ) {
    this.verifier = new AuditVerifier({
      store: options.store,
      publicKeyPem: options.auditSigningKey && (createPublicKey(options.auditSigningKey).export({ type: 'spki', format: 'pem' }) as string),
      checkpointFile: options.auditCheckpointFile,
    })
  }

  /** At start-up: where the next checkpoint is due from. */
  async load(): Promise<void> {
    // bounded by the newest entry: a forged row far ahead must not hold back the next checkpoints
    const row = await this.db.get<{ seq: number | null }>(
      'SELECT CASE WHEN c.seq < a.seq THEN c.seq ELSE a.seq END AS seq FROM (SELECT max(seq) AS seq FROM audit_checkpoints) c, (SELECT max(seq) AS seq FROM audit) a',
    )
    this.lastCheckpointSeq = row?.seq ?? 0
  }

  /**
   * Appends inside the caller's transaction `tx` (the entry commits with the request's other
   * writes). The caller reports the outcome with `settled` once the transaction is over; until
   * then the entry is pending: the head this process vouches for, and publishing a checkpoint,
   * wait for the commit. The next append resolves a pending entry itself if no report came first.
   */
  async append(tx: SqlSession, facts: AuditFacts): Promise<AuditEntry> {
    const rules = CHAIN_RULES[tx.dialect]
    // first: where appends take turns (see ChainRules)
    const mark = await tx.get<{ seq: number; hash: string | null }>(rules.highWater)
    // after the turn is ours: every earlier append of this process has committed or rolled back by now
    await this.settleWith(tx)
    const last = await tx.get<AuditHead>(HEAD_SQL)
    // what the newest entry must be: what this process wrote last, or, where instances share the
    // log, what the database marked as appended last
    const expected = rules.shared ? (mark?.hash ? { seq: mark.seq, hash: mark.hash } : undefined) : this.written
    // Someone changed the newest entry outside the service (a truncation, a rewrite): chain onto
    // the expected one, so the change stays visible as a break, and never reuse a seq.
    const changed = expected && (last?.seq !== expected.seq || last.hash !== expected.hash) ? { found: last ?? null, expected } : undefined
    const prev = changed ? expected : last
    const seq = Math.max(mark?.seq ?? 0, last?.seq ?? 0, this.written?.seq ?? 0) + 1
    const unhashed: UnhashedEntry = { ...storable(facts), seq, prev_hash: prev?.hash ?? GENESIS_HASH }
    const text = canonicalJson(unhashed)
    const hash = hashStoredEntry(unhashed.prev_hash, text)
    await tx.run('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)', [seq, text, hash])
    const checkpoint = this.dueCheckpoint({ seq, hash })
    if (checkpoint) await this.storeCheckpoint(tx, checkpoint)
    if (changed) {
      this.log?.error({ audit_head: changed }, 'audit log changed outside the service: its newest entry is not the one this process wrote; the new entry chains onto the one it wrote')
    }
    this.pending.set(seq, { head: { seq, hash }, checkpoint })
    return { ...unhashed, hash }
  }

  /** One entry in a transaction of its own (system events, answers given outside a route). */
  async record(facts: AuditFacts): Promise<AuditEntry> {
    let entry: AuditEntry | undefined
    try {
      entry = await this.db.transaction((tx) => this.append(tx, facts))
      this.settled(entry, true)
      return entry
    } catch (err) {
      if (entry) this.settled(entry, false)
      throw err
    }
  }

  /**
   * The transaction that appended `entry` has ended: committed, it is the head this process
   * vouches for and its checkpoint goes to the file and the log; rolled back, both are dropped.
   */
  settled(entry: Pick<AuditEntry, 'seq'>, committed: boolean): void {
    const appended = this.pending.get(entry.seq)
    if (!appended) return // resolved already by a later append
    this.pending.delete(entry.seq)
    if (!committed) return
    if (!this.written || appended.head.seq > this.written.seq) this.written = appended.head
    if (!appended.checkpoint) return
    this.lastCheckpointSeq = Math.max(this.lastCheckpointSeq, appended.checkpoint.seq)
    this.publish([appended.checkpoint])
  }

  /** Resolves pending appends from what the database holds (inside a later transaction, which sees every committed one). */
  private async settleWith(tx: SqlSession): Promise<void> {
    for (const [seq, appended] of [...this.pending]) {
      const stored = await tx.get<{ hash: string }>('SELECT hash FROM audit WHERE seq = ?', [seq])
      this.settled({ seq }, stored?.hash === appended.head.hash)
    }
  }

  private async storeCheckpoint(tx: SqlSession, c: Checkpoint): Promise<void> {
    await tx.run('INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (?, ?, ?, ?, ?)', [c.seq, c.hash, c.at, c.key_id, c.signature])
  }

  async list(filter: AuditFilter): Promise<{ items: AuditEntry[]; next_cursor: string | null }> {
    const { rows, next_cursor } = await selectPage<AuditRow>(
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
  async head(): Promise<AuditHead | null> {
    return this.written ?? (await this.db.get<AuditHead>(HEAD_SQL)) ?? null
  }

  /** On a thread of its own; see AuditVerifier and verifyAuditLog. */
  verify(options: { full?: boolean | undefined; anchor?: AuditHead | undefined } = {}): Promise<AuditVerification> {
    return this.verifier.verify({ full: options.full ?? false, anchor: options.anchor })
  }

  async lastEntry(): Promise<AuditEntry | undefined> {
    const row = await this.db.get<AuditRow>('SELECT seq, entry, hash FROM audit ORDER BY seq DESC LIMIT 1')
    return row && toEntry(row)
  }

  /**
   * Called once the app's logger exists. Finishes what a crash interrupted: a checkpoint commits to the
   * database first and is appended to AUDIT_CHECKPOINT_FILE after, so the file may lack the newest ones.
   */
  async start(log: AuditLogger): Promise<void> {
    this.log = log
    const { auditSigningKey: key, auditCheckpointFile: file } = this.options
    if (!key || !file) return
    const found = readCheckpointFile(file)
    const inFile = found.checkpoints.reduce((max, c) => Math.max(max, c.seq), 0)
    const publicKey = createPublicKey(key)
    const missing = (await this.db.all<Checkpoint>('SELECT seq, hash, at, key_id, signature FROM audit_checkpoints WHERE seq > ? ORDER BY seq', [inFile])).filter(
      (c) => checkSignature(publicKey, c) === 'valid',
    )
    if (found.tornTail) log.warn({ file }, 'the last line of AUDIT_CHECKPOINT_FILE was cut short (a crash mid-append); it is left as it is and verify reports it')
    if (missing.length > 0 || !found.exists || found.tornTail) appendCheckpoints(file, missing, found.tornTail)
    for (const checkpoint of missing) log.warn({ audit_checkpoint: checkpoint, recovered: true }, 'audit checkpoint')
  }

  /** preClose: anchor the newest entry now, and every entry the draining requests still add. */
  async beginShutdown(): Promise<void> {
    this.closing = true
    const head = this.written
    const checkpoint = head && this.dueCheckpoint(head)
    if (!checkpoint) return
    await this.db.transaction((tx) => this.storeCheckpoint(tx, checkpoint))
    this.lastCheckpointSeq = checkpoint.seq
    this.publish([checkpoint])
  }

  /** onClose: stops the verifier thread. */
  close(): Promise<void> {
    return this.verifier.close()
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
