import { z } from 'zod'
import { Cursor, Limit } from './workflow.js'

export const AuditEntry = z
  .object({
    seq: z.number().int(),
    at: z.string(),
    request_id: z.string(),
    method: z.string(),
    path: z.string().describe('Path and query, with secret-looking query values redacted'),
    status: z.number().int(),
    duration_ms: z.number(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    actor: z.string().nullable().describe('The API key id, when the caller used one'),
    operation: z.string(),
    workflow_id: z.string().nullable(),
    issue_type: z.string().nullable(),
    files: z.array(z.string()).nullable(),
    commit_sha: z.string().nullable(),
    dry_run: z.boolean().nullable(),
    pushed: z.boolean().nullable(),
    detail: z.string().nullable().describe('Why a request failed, when it did'),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEntry' })
export type AuditEntry = z.infer<typeof AuditEntry>

export const AuditListQuery = z.object({
  workflow_id: z.uuid().optional(),
  operation: z.string().max(64).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Only entries at or after this time'),
  limit: Limit,
  cursor: Cursor.optional(),
})

export const AuditList = z.object({ items: z.array(AuditEntry), next_cursor: z.string().nullable() }).meta({ id: 'AuditList' })

/** An entry a caller can carry (e.g. as a git trailer) and later ask verify to find in the chain. */
export const AuditHead = z.object({ seq: z.number().int(), hash: z.string() })
export type AuditHead = z.infer<typeof AuditHead>

const ANCHOR = /^(\d{1,15})[ :]([0-9a-f]{64})$/

export const AuditVerifyQuery = z.object({
  full: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: re-read every entry. Otherwise only the entries after the last verified one are read (the first verify of a process is always full)'),
  anchor: z
    .string()
    .regex(ANCHOR, 'expected "<seq> <hash>" or "<seq>:<hash>", as in an Audit-Head trailer')
    .optional()
    .describe('A head you carried, "<seq> <hash>" (an `Audit-Head` trailer value) or "<seq>:<hash>": the chain must pass through it'),
})

/** "7 ab12…" or "7:ab12…" (an Audit-Head trailer value) → { seq, hash }. */
export function parseAnchor(value: string): AuditHead | undefined {
  const match = ANCHOR.exec(value)
  return match ? { seq: Number(match[1]), hash: match[2] ?? '' } : undefined
}

export const ANCHOR_SOURCES = ['database', 'file', 'request'] as const
export type AnchorSource = (typeof ANCHOR_SOURCES)[number]

export const AuditProblem = z
  .object({
    kind: z
      .enum(['entry', 'missing', 'truncated', 'anchor', 'schema'])
      .describe('entry: a stored entry fails; missing: entries were deleted; truncated: the newest entries are gone; anchor: an anchor does not hold; schema: the audit tables were redefined'),
    seq: z.number().int().nullable(),
    detail: z.string(),
  })
  .meta({ id: 'AuditProblem' })
export type AuditProblem = z.infer<typeof AuditProblem>

export const AuditVerification = z
  .object({
    ok: z.boolean().describe('No problem found'),
    entries: z.number().int().describe('Entries verified (up to and including the first bad one)'),
    head_hash: z.string().nullable().describe('The hash of the last entry that verified'),
    first_bad_seq: z.number().int().optional().describe('The first stored entry that fails'),
    head: AuditHead.nullable().describe('The newest stored entry'),
    mode: z.enum(['full', 'incremental']),
    checked_from_seq: z.number().int().describe('Entries after this seq were read; 0 when full'),
    high_water_seq: z.number().int().describe('The highest seq ever assigned; above head.seq means the newest entries were deleted'),
    tail_truncated: z.boolean(),
    schema_intact: z.boolean().describe('The audit tables are defined as the migrations left them (the filter columns derived from the hashed entry)'),
    anchors: z.object({
      signing_key: z.boolean().describe('AUDIT_SIGNING_KEY_FILE is set, so checkpoint signatures were checked'),
      checked: z.object({ database: z.number().int(), file: z.number().int(), request: z.number().int() }).describe('How many anchors were checked, by where they came from'),
      last_anchored: z
        .object({ seq: z.number().int(), hash: z.string(), at: z.string().nullable(), sources: z.array(z.enum(ANCHOR_SOURCES)) })
        .nullable()
        .describe('The newest anchor the chain passes through (a signed checkpoint, or ?anchor): a rewrite of an entry at or below its seq is detected'),
    }),
    problems: z.array(AuditProblem).describe('At most 20, lowest seq first'),
    problem_count: z.number().int(),
  })
  .meta({ id: 'AuditVerification' })
export type AuditVerification = z.infer<typeof AuditVerification>
