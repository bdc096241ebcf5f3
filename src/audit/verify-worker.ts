/**
 * The verifier thread: its own read-only connection to the service database (WAL lets it read while
 * the service writes), so a verify of a million entries never holds up a request.
 */
import { createPublicKey } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { openPostgres } from '../store/postgres.js'
import type { SqlDatabase } from '../store/sql.js'
import { SqliteDatabase } from '../store/sqlite.js'
import type { VerifierData, VerifyRequest, VerifyResponse } from './verifier.js'
import { verifyAuditLog, type VerifiedPosition, type VerifierContext } from './verify.js'

const data = workerData as VerifierData
// one connection of its own: read-only for SQLite (WAL lets it read while the service writes), one
// pooled connection for PostgreSQL, without a statement timeout (a full walk of millions of entries is many statements, each short)
const db: SqlDatabase =
  data.store.kind === 'sqlite'
    ? new SqliteDatabase(new Database(data.store.file, { readonly: true, fileMustExist: true }))
    : await openPostgres(data.store.url, { poolSize: 1, statementTimeoutMs: 0 })
const ctx: VerifierContext = {
  db,
  publicKey: data.publicKeyPem === undefined ? undefined : createPublicKey(data.publicKeyPem),
  checkpointFile: data.checkpointFile,
  validSignatures: new Set(),
}
// Only in this thread's memory, where no edit of the database reaches it; a new process starts with a full verify.
let remembered: VerifiedPosition | undefined

parentPort?.on('message', (request: VerifyRequest) => void answer(request))

async function answer(request: VerifyRequest): Promise<void> {
  let response: VerifyResponse
  try {
    const outcome = await verifyAuditLog(ctx, request.full ? undefined : remembered, request.anchors)
    remembered = outcome.position
    response = { id: request.id, outcome }
  } catch (err) {
    remembered = undefined
    response = { id: request.id, error: (err as Error).message }
  }
  parentPort?.postMessage(response)
}
