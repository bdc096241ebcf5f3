import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AuditLog } from '../audit/log.js'
import './types.js'

const SECRET_QUERY_KEY = /key|token|secret|password|passwd|signature|sig|auth|credential/i

/** The request path with the values of secret-looking query parameters replaced. */
export function redactedPath(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  for (const key of new Set(params.keys())) {
    if (SECRET_QUERY_KEY.test(key)) params.set(key, 'REDACTED')
  }
  const query = params.toString()
  return query ? `${url.slice(0, q)}?${query}` : url.slice(0, q)
}

function operationOf(request: FastifyRequest): string {
  return request.audit.operation ?? request.routeOptions.config.operation ?? (request.routeOptions.url ? 'other' : 'unmatched')
}

/**
 * One audit entry per request, written in onSend — before the response leaves — so a caller
 * that got an answer can rely on its entry being on disk, even if the process dies right after.
 */
export function registerAuditHook(app: FastifyInstance, audit: AuditLog): void {
  // measured from our own first hook: Fastify's elapsedTime starts only once a route is found
  const receivedAt = new WeakMap<FastifyRequest, number>()
  app.decorateRequest('audit', null as never)
  app.addHook('onRequest', async (request) => {
    request.audit = {}
    receivedAt.set(request, performance.now())
  })
  app.addHook('onSend', async (request, reply, payload) => {
    const facts = request.audit ?? {}
    const entry = audit.append({
      at: new Date().toISOString(),
      request_id: String(request.id),
      method: request.method,
      path: redactedPath(request.url),
      status: reply.statusCode,
      duration_ms: Math.round((performance.now() - (receivedAt.get(request) ?? performance.now())) * 1000) / 1000,
      ip: request.ip ?? null,
      user_agent: request.headers['user-agent'] ?? null,
      actor: facts.actor ?? null,
      operation: operationOf(request),
      workflow_id: facts.workflow_id ?? null,
      issue_type: facts.issue_type ?? null,
      files: facts.files ?? null,
      commit_sha: facts.commit_sha ?? null,
      dry_run: facts.dry_run ?? null,
      pushed: facts.pushed ?? null,
      detail: facts.detail ?? null,
    })
    request.log.info({ audit: entry }, 'audit')
    return payload
  })
}
