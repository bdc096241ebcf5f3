import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

export class InstanceLockError extends Error {
  override name = 'InstanceLockError'
}

/**
 * One service per DATA_DIR and per repository. At start-up the service clears what a dead
 * predecessor left (running idempotency keys, a commit's scratch files), which would sabotage a
 * second live process. The lock is an exclusive SQLite lock held for the process' lifetime: the
 * OS drops it when the process dies, even by SIGKILL, so no stale lock file needs cleaning up.
 * `what` names the shared thing in the refusal. Returns the release function.
 */
export function acquireInstanceLock(file: string, what: string): () => void {
  mkdirSync(path.dirname(file), { recursive: true })
  let db: Database.Database | undefined
  try {
    db = new Database(file, { timeout: 0 })
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('BEGIN EXCLUSIVE')
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)')
    db.prepare('DELETE FROM holder').run()
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid)
  } catch (err) {
    db?.close()
    const busy = (err as { code?: string }).code === 'SQLITE_BUSY'
    throw new InstanceLockError(
      busy
        ? `${what} is in use by another auto-feature-builder process; stop it first, or give this one its own`
        : `cannot lock ${what} (${file}): ${(err as Error).message}; if no other process runs, delete that file`,
    )
  }
  const held = db
  return () => {
    held.exec('ROLLBACK')
    held.close()
  }
}
