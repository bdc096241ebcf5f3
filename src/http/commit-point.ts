import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AuditFacts, AuditLog } from '../audit/log.js'
import type { AuditEntry } from '../contract/audit.js'
import type { SqlDatabase, SqlSession } from '../store/sql.js'
import { PROBLEM_CONTENT_TYPE } from './error-handler.js'
import { problemType } from './problem.js'
import type { RefusalLedger } from './refusal-ledger.js'
import './types.js'
import { clientNetwork } from './client-network.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Queues a database write for this request's one transaction (with its audit entry). */
    defer(write: (tx: SqlSession) => Promise<void>): void
    /** Runs if that transaction fails, e.g. to release an idempotency key. */
    onWriteFailure(undo: () => Promise<void>): void
    /** Runs inside that transaction, after its writes and audit entry, just before COMMIT; throwing refuses the commit (e.g. a lock found lost). */
    beforeCommit(check: () => void): void
    /** Runs once that transaction is over, committed or not, e.g. to release a lock held since the handler. */
    afterCommit(done: () => void): void
    /** Runs only once that transaction is committed, e.g. to count what it stored. */
    onCommitted(done: () => void): void
  }
}

/** The store's health as the last request's transaction found it: /readyz reports it. */
export interface StoreHealth {
  lastWriteError: string | null
}

/** What an audit entry stores of a URL: enough to recognize it, bounded so a long URL cannot fill the disk. */
export const MAX_AUDITED_PATH = 512

export function boundedPath(path: string): string {
  return path.length <= MAX_AUDITED_PATH ? path : `${path.slice(0, MAX_AUDITED_PATH)}…(${path.length - MAX_AUDITED_PATH} more characters)`
}

/**
 * The commit point of every request: in onSend — before the response leaves — the writes the
 * handler deferred (a new workflow, an idempotency key's answer) and the request's audit entry
 * are committed in ONE database transaction. So a crash can never leave a workflow without its
 * audit entry, or a stored workflow whose Idempotency-Key is not marked done (a retry would then
 * create a second one). If the transaction fails (a full disk), nothing of it is kept and the
 * caller gets a 503 problem instead of the answer it would have had.
 */
export function registerCommitPoint(
  app: FastifyInstance,
  deps: {
    db: SqlDatabase
    audit: AuditLog
    health: StoreHealth
    ledger: RefusalLedger
    entryOf: (request: FastifyRequest, reply: FastifyReply) => AuditFacts
    onAppended?: () => void
  },
): void {
  type Queue = { writes: ((tx: SqlSession) => Promise<void>)[]; undos: (() => Promise<void>)[]; checks: (() => void)[]; committed: (() => void)[]; after: (() => void)[] }
  const pending = new WeakMap<FastifyRequest, Queue>()
  const runAfter = (q: Queue | undefined) => {
    for (const done of q?.after.splice(0) ?? []) done()
  }
  const queue = (request: FastifyRequest) => {
    let q = pending.get(request)
    if (!q) pending.set(request, (q = { writes: [], undos: [], checks: [], committed: [], after: [] }))
    return q
  }
  app.decorateRequest('defer', function (this: FastifyRequest, write: (tx: SqlSession) => Promise<void>) {
    queue(this).writes.push(write)
  })
  app.decorateRequest('onWriteFailure', function (this: FastifyRequest, undo: () => Promise<void>) {
    queue(this).undos.push(undo)
  })
  app.decorateRequest('beforeCommit', function (this: FastifyRequest, check: () => void) {
    queue(this).checks.push(check)
  })
  app.decorateRequest('onCommitted', function (this: FastifyRequest, done: () => void) {
    queue(this).committed.push(done)
  })
  app.decorateRequest('afterCommit', function (this: FastifyRequest, done: () => void) {
    queue(this).after.push(done)
  })
  // a request that ends without onSend (its client went away) must still release what it holds
  app.addHook('onResponse', async (request) => runAfter(pending.get(request)))
  app.addHook('onRequestAbort', async (request) => runAfter(pending.get(request)))

  app.addHook('onSend', async (request, reply, payload) => {
    const q = pending.get(request) ?? { writes: [], undos: [], checks: [], committed: [], after: [] }
    const entry = deps.entryOf(request, reply)
    const deferred = q.writes.splice(0)
    // a request that failed on our side keeps nothing it deferred: only its audit entry is written
    const writes = reply.statusCode >= 500 ? [] : deferred
    // a caller over its rate limit is counted, not recorded once per refusal (see RefusalLedger)
    const recorded = reply.statusCode === 429 ? deps.ledger.admit(`${entry.actor ?? 'anonymous'}:${clientNetwork(entry.ip ?? '')}`, entry) : entry
    let appended: AuditEntry | null = null
    try {
      await deps.db.transaction(async (tx) => {
        for (const write of writes) await write(tx)
        if (recorded) appended = await deps.audit.append(tx, recorded)
        // last, so the audit append's wait for its turn is covered too
        if (writes.length > 0) for (const check of q.checks) check()
      })
      // the entry is committed: its checkpoint (if one was due) goes to the file now
      if (appended) deps.audit.settled(appended, true)
      deps.health.lastWriteError = null
      if (writes.length > 0) for (const done of q.committed.splice(0)) done()
      if (appended) {
        deps.onAppended?.()
        request.log.info({ audit: appended }, 'audit')
      }
      runAfter(q)
      return payload
    } catch (err) {
      for (const undo of q.undos) {
        try {
          await undo()
        } catch (undoErr) {
          request.log.error({ err: undoErr }, 'could not undo after a failed write')
        }
      }
      if (appended) deps.audit.settled(appended, false) // rolled back: nothing to publish
      runAfter(q)
      const code = (err as { code?: string }).code ?? 'unknown'
      // a lost lock says nothing of whether the store takes writes (/readyz)
      if (code !== 'lock-lost') deps.health.lastWriteError = `${code}: ${(err as Error).message}`
      // the entry could not be stored: the log keeps it, so the request is not unrecorded
      request.log.error({ err, audit: entry }, 'the request could not be committed; answering 503')
      // already a failure's answer (it wrote nothing of its own): it says more than a second one would, e.g. which commit is made but unrecorded
      if (reply.statusCode >= 500) return payload
      reply.code(503).header('retry-after', '30').header('content-type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`)
      reply.removeHeader('location')
      return JSON.stringify({
        type: problemType('store-unavailable'),
        title: 'Store unavailable',
        status: 503,
        // a real commit that answered 2xx was made and recorded before the request's own transaction: that must not read "nothing was stored"
        detail: entry.commit_sha
          ? `The commit ${entry.commit_sha} was made, but this request's audit entry could not be stored (${code}); the service's log holds it. Retry later — /readyz says when the store accepts writes again.`
          : `The service could not record this request (${code}); nothing was stored. Retry later — /readyz says when the store accepts writes again.`,
        instance: request.url.split('?')[0] ?? request.url,
        request_id: String(request.id),
      })
    }
  })
}
