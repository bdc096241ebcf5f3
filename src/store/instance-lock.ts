import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

export class InstanceLockError extends Error {
  override name = 'InstanceLockError'
}

/**
 * One service per DATA_DIR. At start-up the service clears what a dead predecessor left (running
 * idempotency keys, a commit's scratch files), which would sabotage a second live process. The lock
 * is an exclusive SQLite lock held for the process' lifetime: the OS drops it when the process
 * dies, even by SIGKILL, so there is no stale lock file to clean up. Returns the release function.
 */
export function acquireInstanceLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const file = path.join(dataDir, 'instance.lock')
  const db = new Database(file, { timeout: 0 })
  try {
    db.pragma('locking_mode = EXCLUSIVE')
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)')
    db.exec('BEGIN EXCLUSIVE')
    db.prepare('DELETE FROM holder').run()
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid)
  } catch {
    db.close()
    throw new InstanceLockError(`DATA_DIR ${dataDir} is in use by another auto-feature-builder process; stop it first, or give this one its own DATA_DIR`)
  }
  return () => {
    db.exec('ROLLBACK')
    db.close()
  }
}
