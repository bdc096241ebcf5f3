import type { SqlDatabase } from './sql.js'

export interface Purged {
  workflows: number
  idempotencyKeys: number
}

/** Rows deleted per statement: a purge of a large backlog never holds the write lock for long. */
const BATCH = 500

/** Uncommitted (open or superseded) workflows created before the cutoff. */
const EXPIRED_WORKFLOWS = `SELECT id FROM workflows WHERE status IN ('generated', 'superseded') AND created_at < ?`

/**
 * RETENTION_DAYS: uncommitted workflows older than the cutoff, with their occurrences and the
 * union of their affected items, and expired idempotency keys are deleted; committed workflows
 * (their record of what is in the repository), their occurrences and every audit entry are kept —
 * the audit log is the record. Runs in batches, each its own short transaction.
 */
export async function purgeExpired(db: SqlDatabase, now: Date, retentionDays: number): Promise<Purged> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString()
  // A workflow keeps every occurrence, so one alone can have thousands: its rows go first, a batch at a time.
  const rowsOfExpired = (table: 'occurrences' | 'affected_items') => () =>
    db.transaction(async (tx) => (await tx.run(`DELETE FROM ${table} WHERE seq IN (SELECT seq FROM ${table} WHERE workflow_id IN (${EXPIRED_WORKFLOWS}) LIMIT ${BATCH})`, [cutoff])).changes)
  const workflowBatch = () =>
    db.transaction(async (tx) => {
      const ids = await tx.all<{ id: string }>(`${EXPIRED_WORKFLOWS} ORDER BY seq LIMIT ${BATCH}`, [cutoff])
      for (const { id } of ids) {
        // the few a detection may have added since its rows were purged
        await tx.run('DELETE FROM occurrences WHERE workflow_id = ?', [id])
        await tx.run('DELETE FROM affected_items WHERE workflow_id = ?', [id])
        await tx.run('DELETE FROM workflows WHERE id = ?', [id])
      }
      return ids.length
    })
  let deleted = 0
  const keyBatch = async () => {
    const expired = await db.all<{ scope: string; key: string }>(`SELECT scope, key FROM idempotency_keys WHERE expires_at < ? LIMIT ${BATCH}`, [now.getTime()])
    await db.transaction(async (tx) => {
      for (const { scope, key } of expired) deleted += (await tx.run('DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND expires_at < ?', [scope, key, now.getTime()])).changes
    })
    return expired.length
  }
  let workflows = 0
  for (const batch of [rowsOfExpired('occurrences'), rowsOfExpired('affected_items')]) for (let n = BATCH; n === BATCH; ) n = await batch()
  for (let n = BATCH; n === BATCH; ) workflows += n = await workflowBatch()
  for (let n = BATCH; n === BATCH; ) n = await keyBatch()
  return { workflows, idempotencyKeys: deleted }
}
