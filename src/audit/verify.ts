import type { KeyObject } from 'node:crypto'
import Database from 'better-sqlite3'
import type { AnchorSource, AuditHead, AuditProblem, AuditVerification } from '../contract/audit.js'
import { migrate } from '../store/database.js'
import type { SqlDatabase, SqlSession } from '../store/sql.js'
import { GENESIS_HASH, hashedPrevHash, hashedSeq, hashStoredEntry } from './chain.js'
import { HIGH_WATER_READ } from './chain-sql.js'
import { checkSignature, readCheckpointFile, type Checkpoint } from './checkpoint.js'

const MAX_PROBLEMS = 20

/** The last entry of a walk that found no bad entry: the next verify may start after it. */
export interface VerifiedPosition {
  seq: number
  hash: string
}

export interface VerifierContext {
  /** the connection verify reads through: the verifier thread's own (read-only for SQLite) */
  db: SqlDatabase
  publicKey: KeyObject | undefined
  checkpointFile: string | undefined
  /** signatures already found valid: checking one costs more than reading a thousand entries */
  validSignatures: Set<string>
}

export interface RequestAnchorOutcome {
  anchor: AuditHead
  holds: boolean
  problem: AuditProblem | undefined
}

export interface VerifyOutcome {
  /** the verification without the anchors callers brought (those are per caller) */
  result: AuditVerification
  requestAnchors: RequestAnchorOutcome[]
  /** where the next incremental verify may start: the last entry of a walk that found no bad entry */
  position: VerifiedPosition | undefined
}

interface Anchor {
  seq: number
  hash: string
  at: string | null
  sources: AnchorSource[]
  checkpoint: Checkpoint | undefined
}

const AUDIT_SCHEMA_SQL = "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name IN ('audit', 'audit_checkpoints') ORDER BY type, name"

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
 * entries. Either way it then checks the tail (high-water mark), the schema, and every anchor: signed
 * checkpoints from the database and AUDIT_CHECKPOINT_FILE, and the heads callers brought.
 */
export function verifyAuditLog(ctx: VerifierContext, from: VerifiedPosition | undefined, requestAnchors: readonly AuditHead[]): Promise<VerifyOutcome> {
  // The file is read before the snapshot starts: a checkpoint reaches the file only after its
  // database commit, so everything in the file is inside the snapshot and none looks "past the head".
  const file = ctx.checkpointFile === undefined ? undefined : readCheckpointFile(ctx.checkpointFile)
  expectedSchema ??= expectedAuditSchema()

  return ctx.db.snapshot(async (db): Promise<VerifyOutcome> => {
    const hashAt = async (seq: number) => (await db.get<{ hash: string }>('SELECT hash FROM audit WHERE seq = ?', [seq]))?.hash
    const problems: AuditProblem[] = []
    const schemaIntact = JSON.stringify(await db.all(AUDIT_SCHEMA_SQL)) === expectedSchema
    if (!schemaIntact) {
      problems.push({ kind: 'schema', seq: null, detail: 'The audit tables are not defined as the migrations left them: a filter column may no longer follow the hashed entry.' })
    }

    // An incremental walk trusts what the last one vouched for only while the entry it stopped at still
    // has its hash (a rewrite up to there changes it) and no entry is missing (a count over the
    // smallest index); otherwise, or when it finds a bad entry, the walk starts over from the first.
    let start = from && (await hashAt(from.seq)) === from.hash ? from : undefined
    let walk = await walkChain(db, start)
    if (start && (walk.bad || (await db.get<{ n: number }>('SELECT count(*) AS n FROM audit'))?.n !== start.seq + walk.entries)) {
      start = undefined
      walk = await walkChain(db, undefined)
    }
    if (walk.bad) problems.push({ kind: walk.bad.kind, seq: walk.bad.seq, detail: walk.bad.detail })

    const head = (await db.get<AuditHead>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1')) ?? null
    const lastSeq = head?.seq ?? 0
    const highWater = (await db.get<{ seq: number }>(HIGH_WATER_READ[db.dialect]))?.seq ?? 0
    let tailTruncated = highWater > lastSeq // or an anchor past the newest entry, below
    if (tailTruncated) {
      problems.push({ kind: 'truncated', seq: lastSeq + 1, detail: `Entries ${range(lastSeq + 1, highWater)} are gone: seq ${highWater} was assigned, the newest entry left is ${lastSeq}.` })
    }

    const judge = async (anchor: Anchor): Promise<{ holds: boolean; problem: AuditProblem | undefined }> => {
      const what = `The ${anchor.checkpoint ? 'checkpoint' : 'anchor'} at seq ${anchor.seq} (${anchor.sources.join(', ')})`
      const fail = (kind: AuditProblem['kind'], detail: string) => ({ holds: false, problem: { kind, seq: anchor.seq, detail: `${what} ${detail}` } })
      const signature = anchor.checkpoint && signatureOf(ctx, anchor.checkpoint)
      if (signature === 'other-key') return fail('anchor', `is signed by another key (key_id ${anchor.checkpoint?.key_id}), not AUDIT_SIGNING_KEY_FILE's.`)
      if (signature === 'invalid') return fail('anchor', 'has a signature that does not verify: it was forged or edited.')
      if (anchor.seq > lastSeq) return fail('truncated', `is past the newest entry (${lastSeq}): the newest entries were deleted.`)
      // past the first bad entry the chain is broken already; that problem is reported
      if (walk.bad && anchor.seq >= walk.bad.seq) return { holds: false, problem: undefined }
      const stored = await hashAt(anchor.seq)
      if (stored === undefined) return fail('anchor', `names an entry that is gone: entry ${anchor.seq} was deleted.`)
      if (stored !== anchor.hash) return fail('anchor', `says hash ${anchor.hash.slice(0, 16)}…, the log has ${stored.slice(0, 16)}…: an entry at or below seq ${anchor.seq} was rewritten.`)
      return { holds: signature !== 'unverified', problem: undefined }
    }

    const checkpoints = await gatherCheckpoints(db, file)
    let lastAnchored: Anchor | undefined
    for (const anchor of checkpoints.anchors) {
      const { holds, problem } = await judge(anchor)
      if (problem) problems.push(problem)
      if (problem?.kind === 'truncated') tailTruncated = true
      if (holds && (!lastAnchored || anchor.seq > lastAnchored.seq)) lastAnchored = anchor
    }
    if (ctx.checkpointFile !== undefined && file && !file.exists) {
      problems.push({ kind: 'anchor', seq: null, detail: `AUDIT_CHECKPOINT_FILE ${ctx.checkpointFile} does not exist (start-up creates it): it was deleted or moved.` })
    }
    for (const line of file?.unreadableLines ?? []) {
      problems.push({ kind: 'anchor', seq: null, detail: `Line ${line} of AUDIT_CHECKPOINT_FILE is not a checkpoint: an append cut short by a crash, or an edit.` })
    }
    const outcomes: RequestAnchorOutcome[] = []
    for (const anchor of requestAnchors) outcomes.push({ anchor, ...(await judge({ ...anchor, at: null, sources: ['request'], checkpoint: undefined })) })

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
      anchors: {
        signing_key: ctx.publicKey !== undefined,
        checked: { database: checkpoints.fromDatabase, file: file?.checkpoints.length ?? 0, request: 0 },
        last_anchored: lastAnchored ? { seq: lastAnchored.seq, hash: lastAnchored.hash, at: lastAnchored.at, sources: lastAnchored.sources } : null,
      },
      problems: problems.slice(0, MAX_PROBLEMS),
      problem_count: problems.length,
    }
    // what the walk vouched for is remembered even when other checks failed: those run again every time
    return { result, requestAnchors: outcomes, position: walk.bad ? undefined : walk.verified }
  })
}

interface Walk {
  entries: number
  verified: VerifiedPosition | undefined
  bad: { seq: number; kind: 'entry' | 'missing'; detail: string } | undefined
}

/** Rows per read: a page of plain arrays is cheaper to walk than a row-at-a-time iterator. */
const PAGE = 1000

/** Oldest first from `start`: each entry must hash, over the previous hash, to its own, and carry the next seq. */
async function walkChain(db: SqlSession, start: VerifiedPosition | undefined): Promise<Walk> {
  let prev = start?.hash ?? GENESIS_HASH
  let prevSeq = start?.seq ?? 0
  let entries = 0
  const page = (after: number) => db.all<{ seq: number; entry: string; hash: string }>(`SELECT seq, entry, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ${PAGE}`, [after])
  const bad = (seq: number, kind: 'entry' | 'missing', detail: string): Walk => ({ entries, verified: prevSeq > 0 ? { seq: prevSeq, hash: prev } : undefined, bad: { seq, kind, detail } })
  for (let rows = await page(prevSeq); rows.length > 0; rows = await page(prevSeq)) {
    for (const { seq, entry: text, hash } of rows) {
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

type SignatureState = 'valid' | 'invalid' | 'other-key' | 'unverified'

function signatureOf(ctx: VerifierContext, checkpoint: Checkpoint): SignatureState {
  if (!ctx.publicKey) return 'unverified'
  const key = JSON.stringify(checkpoint)
  if (ctx.validSignatures.has(key)) return 'valid'
  const state = checkSignature(ctx.publicKey, checkpoint)
  if (state === 'valid') ctx.validSignatures.add(key)
  return state
}

/** Checkpoints from the database and the file, one anchor per distinct checkpoint, oldest first. */
async function gatherCheckpoints(db: SqlSession, file: ReturnType<typeof readCheckpointFile> | undefined) {
  const stored = await db.all<Checkpoint>('SELECT seq, hash, at, key_id, signature FROM audit_checkpoints')
  const anchors = new Map<string, Anchor>()
  const add = (source: AnchorSource, checkpoint: Checkpoint) => {
    const key = `${checkpoint.seq} ${checkpoint.hash} ${checkpoint.at} ${checkpoint.signature}`
    const known = anchors.get(key)
    if (known) {
      if (!known.sources.includes(source)) known.sources.push(source)
    } else {
      anchors.set(key, { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at, sources: [source], checkpoint })
    }
  }
  for (const checkpoint of stored) add('database', checkpoint)
  for (const checkpoint of file?.checkpoints ?? []) add('file', checkpoint)
  return { anchors: [...anchors.values()].sort((a, b) => a.seq - b.seq), fromDatabase: stored.length }
}

/** The shared verification as one caller sees it: with the outcome of the head that caller brought. */
export function withRequestAnchor(outcome: VerifyOutcome, anchor: AuditHead | undefined): AuditVerification {
  const { result } = outcome
  const judged = anchor && outcome.requestAnchors.find((o) => o.anchor.seq === anchor.seq && o.anchor.hash === anchor.hash)
  if (!judged) return result
  const last = result.anchors.last_anchored
  let lastAnchored = last
  if (judged.holds && last?.seq === judged.anchor.seq) lastAnchored = { ...last, sources: [...last.sources, 'request'] }
  else if (judged.holds && (!last || judged.anchor.seq > last.seq)) lastAnchored = { ...judged.anchor, at: null, sources: ['request'] }
  const problems = judged.problem ? [...result.problems, judged.problem].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)).slice(0, MAX_PROBLEMS) : result.problems
  return {
    ...result,
    ok: result.ok && !judged.problem,
    tail_truncated: result.tail_truncated || judged.problem?.kind === 'truncated',
    anchors: { ...result.anchors, checked: { ...result.anchors.checked, request: 1 }, last_anchored: lastAnchored },
    problems,
    problem_count: result.problem_count + (judged.problem ? 1 : 0),
  }
}
