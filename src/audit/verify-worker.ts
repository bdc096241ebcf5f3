/**
 * The verifier thread: its own connection to the service database, so a verify of a million
 * entries never holds up a request.
 */
import { createPublicKey } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { openPostgres } from '../store/postgres.js'
import { StoreUnavailable, type SqlDatabase } from '../store/sql.js'
import { SqliteDatabase } from '../store/sqlite.js'
import type { VerifierData, VerifyRequest, VerifyResponse } from './verifier.js'
import { verifyAuditLog, type VerifiedPosition, type VerifierContext } from './verify.js'

const data = workerData as VerifierData
const publicKey = data.publicKeyPem === undefined ? undefined : createPublicKey(data.publicKeyPem)
// Opened at the first verify, and again after a failure to open: a database that is down when
// the thread starts is a 503 for that verify (StoreUnavailable), not a thread that never works.
let context: Promise<VerifierContext> | undefined
// Only in this thread's memory, where no edit of the database reaches it; a new process starts with a full verify.
let remembered: VerifiedPosition | undefined

parentPort?.on('message', (request: VerifyRequest) => void answer(request))

/**
 * One connection of its own: read-only for SQLite (WAL lets it read while the service writes),
 * one pooled connection for PostgreSQL, without a statement timeout (a full walk of millions of
 * entries is many statements, each short).
 */
async function open(): Promise<VerifierContext> {
  const db: SqlDatabase =
    data.store.kind === 'sqlite'
      ? new SqliteDatabase(new Database(data.store.file, { readonly: true, fileMustExist: true }))
      : await openPostgres(data.store.url, { poolSize: 1, statementTimeoutMs: 0 })
  return { db, publicKey, checkpointFile: data.checkpointFile, validSignatures: new Set() }
}

async function answer(request: VerifyRequest): Promise<void> {
  let response: VerifyResponse
  try {
    context ??= open().catch((err: unknown) => {
      context = undefined
      throw err
    })
    const outcome = await verifyAuditLog(await context, request.full ? undefined : remembered, request.anchors)
    remembered = outcome.position
    response = { id: request.id, outcome }
  } catch (err) {
    remembered = undefined
    // the error crosses the thread as data: whether the store was unavailable (a 503) must survive it
    response = { id: request.id, error: (err as Error).message, ...(err instanceof StoreUnavailable && { unavailable: err.code }) }
  }
  parentPort?.postMessage(response)
}
