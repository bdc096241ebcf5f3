/**
 * The verifier thread: its own read-only connection to the service database (WAL lets it read while
 * the service writes), so a verify of a million entries never holds up a request.
 */
import { createPublicKey } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { SqliteDatabase } from '../store/sqlite.js'
import type { VerifierData, VerifyRequest, VerifyResponse } from './verifier.js'
import { verifyAuditLog, type VerifiedPosition, type VerifierContext } from './verify.js'

const data = workerData as VerifierData
const ctx: VerifierContext = {
  db: new SqliteDatabase(new Database(data.databaseFile, { readonly: true, fileMustExist: true })),
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
