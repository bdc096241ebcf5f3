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

export const AuditVerification = z
  .object({
    ok: z.boolean(),
    entries: z.number().int(),
    head_hash: z.string().nullable(),
    first_bad_seq: z.number().int().optional(),
  })
  .meta({ id: 'AuditVerification' })
