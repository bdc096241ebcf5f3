import Database from 'better-sqlite3'
import type { AuditHead, AuditProblem, AuditVerification } from '../contract/audit.js'
import { migrate } from '../store/database.js'
import { GENESIS_HASH, hashedPrevHash, hashedSeq, hashStoredEntry } from './chain.js'

const MAX_PROBLEMS = 20

/** The last entry of a walk that found no bad entry: the next verify may start after it. */
export interface VerifiedPosition {
  seq: number
  hash: string
}

export interface VerifyOutcome {
  result: AuditVerification
  /** where the next incremental verify may start: the last entry of a walk that found no bad entry */
  position: VerifiedPosition | undefined
}

const AUDIT_SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name = 'audit' ORDER BY type, name"

/** The audit tables as the migrations define them, from a scratch in-memory database. */
export function expectedAuditSchema(): string {
  const scratch = new Database(':memory:')
  try {
    migrate(scratch)
    return JSON.stringify(scratch.prepare(AUDIT_SCHEMA_SQL).all())
  } finally {
    scratch.close()
  }
}

let expectedSchema: string | undefined

/**
 * Verifies the audit log in one read snapshot. A full verify walks every entry: each must hash to its
 * stored hash over the previous entry's hash, and carry the next seq. An incremental one starts after
 * `from` — when that entry still has its hash and no entry at or below it is gone — and reads only newer
 * entries. Either way it then checks the tail (high-water mark) and the schema.
 */
export function verifyAuditLog(db: Database.Database, from: VerifiedPosition | undefined): VerifyOutcome {
  expectedSchema ??= expectedAuditSchema()
  const hashAt = db.prepare('SELECT hash FROM audit WHERE seq = ?').pluck()

  return db.transaction((): VerifyOutcome => {
    const problems: AuditProblem[] = []
    const schemaIntact = JSON.stringify(db.prepare(AUDIT_SCHEMA_SQL).all()) === expectedSchema
    if (!schemaIntact) {
      problems.push({ kind: 'schema', seq: null, detail: 'The audit table is not defined as the migrations left it: a filter column may no longer follow the hashed entry.' })
    }

    // An incremental walk trusts what the last one vouched for only while the entry it stopped at still
    // has its hash (a rewrite up to there changes it) and no entry is missing (a count over the
    // smallest index); otherwise, or when it finds a bad entry, the walk starts over from the first.
    let start = from && hashAt.get(from.seq) === from.hash ? from : undefined
    let walk = walkChain(db, start)
    if (start && (walk.bad || db.prepare('SELECT count(*) FROM audit').pluck().get() !== start.seq + walk.entries)) {
      start = undefined
      walk = walkChain(db, undefined)
    }
    if (walk.bad) problems.push({ kind: walk.bad.kind, seq: walk.bad.seq, detail: walk.bad.detail })

    const head = (db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as AuditHead | undefined) ?? null
    const lastSeq = head?.seq ?? 0
    const highWater = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").pluck().get() as number | undefined) ?? 0
    const tailTruncated = highWater > lastSeq
    if (tailTruncated) {
      problems.push({ kind: 'truncated', seq: lastSeq + 1, detail: `Entries ${range(lastSeq + 1, highWater)} are gone: seq ${highWater} was assigned, the newest entry left is ${lastSeq}.` })
    }

    problems.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))
    const result: AuditVerification = {
      ok: problems.length === 0,
      entries: (start?.seq ?? 0) + walk.entries,
      head_hash: walk.verified?.hash ?? null,
      ...(walk.bad ? { first_bad_seq: walk.bad.seq } : {}),
      head,
      mode: start ? 'incremental' : 'full',
      checked_from_seq: start?.seq ?? 0,
      high_water_seq: highWater,
      tail_truncated: tailTruncated,
      schema_intact: schemaIntact,
      problems: problems.slice(0, MAX_PROBLEMS),
      problem_count: problems.length,
    }
    // what the walk vouched for is remembered even when other checks failed: those run again every time
    return { result, position: walk.bad ? undefined : walk.verified }
  })()
}

interface Walk {
  entries: number
  verified: VerifiedPosition | undefined
  bad: { seq: number; kind: 'entry' | 'missing'; detail: string } | undefined
}

/** Rows per read: a page of plain arrays is cheaper to walk than a row-at-a-time iterator. */
const PAGE = 1000

/** Oldest first from `start`: each entry must hash, over the previous hash, to its own, and carry the next seq. */
function walkChain(db: Database.Database, start: VerifiedPosition | undefined): Walk {
  let prev = start?.hash ?? GENESIS_HASH
  let prevSeq = start?.seq ?? 0
  let entries = 0
  const page = db.prepare(`SELECT seq, entry, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ${PAGE}`).raw()
  const bad = (seq: number, kind: 'entry' | 'missing', detail: string): Walk => ({ entries, verified: prevSeq > 0 ? { seq: prevSeq, hash: prev } : undefined, bad: { seq, kind, detail } })
  for (let rows = page.all(prevSeq) as Array<[number, string, string]>; rows.length > 0; rows = page.all(prevSeq) as Array<[number, string, string]>) {
    for (const [seq, text, hash] of rows) {
      entries++
      if (hashStoredEntry(prev, text) !== hash) {
        if (hashedPrevHash(text) !== prev) {
          const gone = seq > prevSeq + 1 ? `entries ${range(prevSeq + 1, seq - 1)} are gone, or ` : ''
          return bad(seq, seq > prevSeq + 1 ? 'missing' : 'entry', `Entry ${seq} does not follow entry ${prevSeq}: ${gone}an entry before it was rewritten, deleted or moved.`)
        }
        return bad(seq, 'entry', `Entry ${seq} no longer matches its hash: it was edited.`)
      }
      const claimed = hashedSeq(text)
      if (claimed !== seq) return bad(seq, 'entry', `Entry ${seq} was hashed as seq ${claimed}: its seq was changed.`)
      if (seq !== prevSeq + 1) return bad(seq, 'missing', `Entries ${range(prevSeq + 1, seq - 1)} are gone: they were deleted, and entry ${seq} was appended onto entry ${prevSeq}.`)
      prev = hash
      prevSeq = seq
    }
  }
  return { entries, verified: prevSeq > 0 ? { seq: prevSeq, hash: prev } : undefined, bad: undefined }
}

function range(from: number, to: number): string {
  return from === to ? `${from}` : `${from}–${to}`
}
