import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { PROBLEM_CONTENT_TYPE } from './error-handler.js'
import { problemType } from './problem.js'
import type { AuditLog } from '../audit/log.js'
import type { AuditContext } from './types.js'

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
  return request.audit?.operation ?? request.routeOptions.config.operation ?? (request.routeOptions.url ? 'other' : 'unmatched')
}

/** Appends the request's one audit entry (and logs it), from what the request and its handler established. */
function record(audit: AuditLog, request: FastifyRequest, status: number, durationMs: number, facts: AuditContext): void {
  const entry = audit.append({
    at: new Date().toISOString(),
    request_id: String(request.id),
    method: request.method,
    path: redactedPath(request.url),
    status,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    ip: request.ip ?? null,
    user_agent: request.headers['user-agent'] ?? null,
    actor: facts.actor ?? null,
    operation: facts.operation ?? operationOf(request),
    workflow_id: facts.workflow_id ?? null,
    issue_type: facts.issue_type ?? null,
    files: facts.files ?? null,
    commit_sha: facts.commit_sha ?? null,
    dry_run: facts.dry_run ?? null,
    pushed: facts.pushed ?? null,
    detail: facts.detail ?? null,
  })
  request.log.info({ audit: entry }, 'audit')
}

/**
 * The answer to a request Fastify refuses before routing (a URL that is not valid percent-encoding):
 * such requests pass no hook, so the problem is sent and the audit entry appended right here.
 */
export function answerUnroutable(error: FastifyError, request: FastifyRequest, reply: FastifyReply, audit: AuditLog): void {
  // the message quotes the raw URL: name the redacted one instead, so no query secret reaches audit or log
  const detail = `The URL is not valid percent-encoding: ${redactedPath(request.url)}`
  try {
    record(audit, request, 400, 0, { operation: 'unmatched', detail })
  } catch (err) {
    request.log.error({ err, error_code: error.code }, 'could not audit an unroutable request')
  }
  const problem = { type: problemType('bad-url'), title: 'Invalid URL', status: 400, detail, instance: request.url.split('?')[0] ?? '', request_id: String(request.id) }
  reply.raw.writeHead(400, { 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, 'x-request-id': String(request.id) })
  reply.raw.end(JSON.stringify(problem))
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
    const started = receivedAt.get(request) ?? performance.now()
    record(audit, request, reply.statusCode, performance.now() - started, request.audit ?? {})
    return payload
  })
}
