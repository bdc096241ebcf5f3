import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { IdempotencyStore } from '../idempotency/store.js'
import { Conflict, ProblemError, problemType } from './problem.js'
import './types.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Honour Idempotency-Key on this route (Stripe's semantics). */
    idempotent?: boolean
  }
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/
const REPLAYED_HEADERS = ['content-type', 'location']
const TRANSIENT = new Set([409, 429])
/** A rejected push is a 409 too, but the commit was made: its answer is final and must be replayed. */
const FINAL_CONFLICT = problemType('push-rejected')

class IdempotencyMismatch extends ProblemError {
  constructor() {
    super(422, 'Idempotency-Key reused', 'This Idempotency-Key was already used with a different request body or endpoint; use a new key for a new request.', 'idempotency-mismatch')
  }
}

function fingerprint(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url.split('?')[0]}\n${request.headers['content-type'] ?? ''}\n`)
    .update(request.rawBody ?? Buffer.alloc(0))
    .digest('hex')
}

/**
 * Idempotent retries for routes with `config.idempotent`: the same key and payload replay the
 * stored answer (with `idempotent-replayed: true`) instead of creating a second workflow or
 * commit. Signed webhooks use their webhook-id as the key. Runs after validation, so a request
 * rejected as invalid does not use up its key.
 */
export function registerIdempotency(app: FastifyInstance, store: IdempotencyStore): void {
  const held = new WeakMap<FastifyRequest, { scope: string; key: string; claimedAt: number }>()

  app.addHook('preHandler', async (request, reply) => {
    if (!request.routeOptions.config.idempotent) return
    // A signed webhook's key is its (signed) webhook-id, never a header outside the signature:
    // otherwise a captured request could be replayed under fresh Idempotency-Keys.
    const header = request.caller.via === 'webhook' ? request.headers['webhook-id'] : request.headers['idempotency-key']
    const key = typeof header !== 'string' ? undefined : request.caller.via === 'webhook' ? `webhook:${header}` : header
    if (key === undefined) return
    if (!KEY_PATTERN.test(key)) throw new ProblemError(400, 'Invalid request', 'Idempotency-Key must be 1–255 visible ASCII characters', 'validation', [{ path: 'idempotency-key', in: 'headers', message: 'invalid' }])
    const scope = request.caller.actor ?? 'anonymous'
    const verdict = await store.reserve(scope, key, fingerprint(request))
    switch (verdict.kind) {
      case 'reserved':
        held.set(request, { scope, key, claimedAt: verdict.claimedAt })
        return
      case 'mismatch':
        throw new IdempotencyMismatch()
      case 'in-progress':
        throw new Conflict('Request in progress', 'A request with this Idempotency-Key is still being processed; retry shortly.', 'idempotency-in-progress')
      case 'replay': {
        const stored = verdict.response
        Object.assign(request.audit, stored.audit, { detail: 'replayed: same Idempotency-Key and payload as an earlier request' })
        for (const [name, value] of Object.entries(stored.headers)) reply.header(name, value)
        return reply.code(stored.status).header('idempotent-replayed', 'true').send(stored.body)
      }
    }
  })

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = held.get(request)
    if (!claim) return payload
    held.delete(request)
    // 409 (repository locked or changed, local changes, hook) and 429 describe a passing state: a retry
    // with the same key must run again rather than replay the refusal for a day
    if (typeof payload !== 'string' || reply.statusCode >= 500 || (TRANSIENT.has(reply.statusCode) && !payload.includes(FINAL_CONFLICT))) {
      await store.releaseEventually(claim.scope, claim.key, claim.claimedAt)
      return payload
    }
    const headers: Record<string, string> = {}
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name)
      if (value !== undefined) headers[name] = String(value)
    }
    const { operation, workflow_id, issue_type, files, commit_sha, dry_run, pushed } = request.audit
    const audit = { operation: operation ?? request.routeOptions.config.operation, workflow_id, issue_type, files, commit_sha, dry_run, pushed }
    // marked done in the same transaction as the workflow it created and the audit entry (commit point):
    // after a crash the key is either done with its workflow stored, or free with nothing stored
    request.defer((tx) => store.complete(tx, claim.scope, claim.key, claim.claimedAt, { status: reply.statusCode, headers, body: payload, audit }))
    request.onWriteFailure(() => store.releaseEventually(claim.scope, claim.key, claim.claimedAt))
    return payload
  })
}
