import { Worker } from 'node:worker_threads'
import type { AuditHead, AuditVerification } from '../contract/audit.js'
import type { StoreLocation } from '../store/open.js'
import { StoreUnavailable } from '../store/sql.js'
import { withRequestAnchor, type VerifyOutcome } from './verify.js'

/** What the verifier thread is started with. */
export interface VerifierData {
  store: StoreLocation
  publicKeyPem: string | undefined
  checkpointFile: string | undefined
}
export interface VerifyRequest {
  id: number
  full: boolean
  anchors: AuditHead[]
}
/** `unavailable`: the StoreUnavailable code, when the database could not serve the verify (the caller answers 503) */
export type VerifyResponse = { id: number; outcome: VerifyOutcome } | { id: number; error: string; unavailable?: string }

interface Caller {
  anchor: AuditHead | undefined
  resolve(result: AuditVerification): void
  reject(err: Error): void
}
interface Batch {
  id: number
  full: boolean
  callers: Caller[]
}

/** The verifier thread, from dist/ (JavaScript) or from src/ under tsx or vitest (TypeScript). */
function spawnWorker(data: VerifierData): Worker {
  const self = import.meta.url
  if (!self.endsWith('.ts')) return new Worker(new URL('./verify-worker.js', self), { workerData: data })
  // TypeScript needs tsx's loader inside the thread before the worker module is imported
  const code = [
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}`,
    'register()',
    `await import(${JSON.stringify(new URL('./verify-worker.ts', self).href)})`,
  ].join('\n')
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: data })
}

/**
 * Runs verifies on one thread of their own, one at a time. A request that arrives while one runs
 * joins the next run, with everyone else who arrives meanwhile: however many callers ask, at most one
 * verify runs and one waits, and each caller's answer covers every entry written before it asked.
 */
export class AuditVerifier {
  private worker: Worker | undefined
  private running: Batch | undefined
  private waiting: Batch | undefined
  private lastId = 0
  private closed = false

  constructor(private readonly data: VerifierData) {}

  verify(options: { full: boolean; anchor?: AuditHead | undefined }): Promise<AuditVerification> {
    if (this.closed) return Promise.reject(new Error('the audit verifier is closed'))
    return new Promise((resolve, reject) => {
      this.waiting ??= { id: ++this.lastId, full: false, callers: [] }
      this.waiting.full ||= options.full
      this.waiting.callers.push({ anchor: options.anchor, resolve, reject })
      this.runNext()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const worker = this.worker
    this.worker = undefined
    this.settle(this.waiting, new Error('the service is shutting down'))
    this.waiting = undefined
    await worker?.terminate()
  }

  private runNext(): void {
    if (this.running || !this.waiting || this.closed) return
    const batch = this.waiting
    this.waiting = undefined
    this.running = batch
    const anchors = new Map(batch.callers.flatMap((c) => (c.anchor ? [[`${c.anchor.seq} ${c.anchor.hash}`, c.anchor] as const] : [])))
    const worker = this.thread()
    worker.ref() // a verify in progress keeps the process up; an idle thread does not
    worker.postMessage({ id: batch.id, full: batch.full, anchors: [...anchors.values()] } satisfies VerifyRequest)
  }

  private thread(): Worker {
    if (this.worker) return this.worker
    const worker = spawnWorker(this.data)
    worker.on('message', (response: VerifyResponse) => {
      worker.unref()
      this.finish(response.id, response)
    })
    const lost = (err: Error) => {
      if (this.worker === worker) this.worker = undefined
      if (this.running) this.finish(this.running.id, err)
    }
    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`the audit verifier thread stopped (exit code ${code})`)))
    this.worker = worker
    return worker
  }

  private finish(id: number, response: VerifyResponse | Error): void {
    const batch = this.running
    if (!batch || batch.id !== id) return
    this.running = undefined
    if (response instanceof Error) this.settle(batch, response)
    else if ('error' in response) {
      const message = `audit verify failed: ${response.error}`
      this.settle(batch, response.unavailable === undefined ? new Error(message) : new StoreUnavailable(response.unavailable, message))
    }
    else for (const caller of batch.callers) caller.resolve(withRequestAnchor(response.outcome, caller.anchor))
    this.runNext()
  }

  private settle(batch: Batch | undefined, err: Error): void {
    for (const caller of batch?.callers ?? []) caller.reject(err)
  }
}
