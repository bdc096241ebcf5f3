import type { Db } from './database.js'

export interface Purged {
  workflows: number
  idempotencyKeys: number
}

/** Rows deleted per statement: a purge of a large backlog never holds the write lock for long. */
const BATCH = 500

/**
 * RETENTION_DAYS: uncommitted workflows older than the cutoff and expired idempotency keys are
 * deleted; committed workflows (their record of what is in the repository) and every audit
 * entry are kept — the audit log is the record. Runs in batches, each its own short transaction.
 */
export function purgeExpired(db: Db, now: Date, retentionDays: number): Purged {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString()
  // uncommitted: open or superseded; their occurrences go with them
  const batch = db.prepare(`SELECT id FROM workflows WHERE status IN ('generated', 'superseded') AND created_at < ? ORDER BY seq LIMIT ${BATCH}`).pluck()
  const deleteWorkflow = db.prepare('DELETE FROM workflows WHERE id = ?')
  const deleteOccurrences = db.prepare('DELETE FROM occurrences WHERE workflow_id = ?')
  const workflows = {
    run: (before: string) =>
      db.transaction(() => {
        const ids = batch.all(before) as string[]
        for (const id of ids) {
          deleteOccurrences.run(id)
          deleteWorkflow.run(id)
        }
        return { changes: ids.length }
      })(),
  }
  const keys = db.prepare(`DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at < ? LIMIT ${BATCH})`)
  const purged: Purged = { workflows: 0, idempotencyKeys: 0 }
  for (let n = BATCH; n === BATCH; ) purged.workflows += n = workflows.run(cutoff).changes
  for (let n = BATCH; n === BATCH; ) purged.idempotencyKeys += n = keys.run(now.getTime()).changes
  return purged
}
