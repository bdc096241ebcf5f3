import { randomUUID } from 'node:crypto'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { boundedPath } from './commit-point.js'
import { PROBLEM_CONTENT_TYPE } from './error-handler.js'
import { problemType } from './problem.js'
import type { AuditFacts } from '../audit/log.js'
import type { UnroutedGuard } from './client-error.js'
import type { AuditContext } from './types.js'
import { clientNetwork } from './client-network.js'

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

/** An audit entry for what no routed request carries: malformed HTTP, a retention purge. */
export function systemAuditEntry(operation: string, status: number, detail: string, ip: string | null = null, requestId = randomUUID()): AuditFacts {
  return {
    at: new Date().toISOString(),
    request_id: requestId,
    method: '-',
    path: '-',
    status,
    duration_ms: 0,
    ip,
    user_agent: null,
    actor: null,
    operation,
    workflow_id: null,
    issue_type: null,
    files: null,
    commit_sha: null,
    dry_run: null,
    pushed: null,
    detail,
  }
}

/** A caller's user agent, bounded like the path: no key is needed to send one. */
function boundedUserAgent(value: string | undefined): string | null {
  if (value === undefined) return null
  return value.length <= 256 ? value : `${value.slice(0, 256)}…(${value.length - 256} more characters)`
}

/** The request's one audit entry, from what the request and its handler established. */
function entryOf(request: FastifyRequest, status: number, durationMs: number, facts: AuditContext): AuditFacts {
  return {
    at: new Date().toISOString(),
    request_id: String(request.id),
    method: request.method,
    path: boundedPath(redactedPath(request.url)),
    status,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    ip: request.ip ?? null,
    user_agent: boundedUserAgent(request.headers['user-agent']),
    actor: facts.actor ?? null,
    operation: facts.operation ?? operationOf(request),
    workflow_id: facts.workflow_id ?? null,
    issue_type: facts.issue_type ?? null,
    files: facts.files ?? null,
    commit_sha: facts.commit_sha ?? null,
    dry_run: facts.dry_run ?? null,
    pushed: facts.pushed ?? null,
    detail: facts.detail ?? null,
  }
}

/**
 * The answer to a request Fastify refuses before routing (a URL that is not valid percent-encoding):
 * such requests pass no hook, so the problem is sent and the audit entry appended right here.
 */
export function answerUnroutable(error: FastifyError, request: FastifyRequest, reply: FastifyReply, guard: UnroutedGuard): void {
  // rate-limited like routed requests; the message quotes the URL redacted and bounded, so no query secret reaches audit or log
  const limited = !guard.limiter.allow(clientNetwork(request.ip ?? ''))
  const status = limited ? 429 : 400
  const detail = limited ? 'Too many requests with invalid URLs in a minute; retry later' : `The URL is not valid percent-encoding: ${boundedPath(redactedPath(request.url))}`
  const problem = {
    type: problemType(limited ? 'rate-limited' : 'bad-url'),
    title: limited ? 'Too Many Requests' : 'Invalid URL',
    status,
    detail,
    instance: boundedPath(request.url.split('?')[0] ?? ''),
    request_id: String(request.id),
  }
  const answer = () => {
    reply.raw.writeHead(status, { 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, 'x-request-id': String(request.id) })
    reply.raw.end(JSON.stringify(problem))
  }
  const entry = entryOf(request, status, 0, { operation: 'unmatched', detail })
  const recorded = limited ? guard.ledger.admit(`unrouted:${clientNetwork(request.ip ?? '')}`, entry) : entry
  if (!recorded) return answer()
  // stored before the answer leaves, like every routed request's entry
  guard.audit.record(recorded).then(answer, (err: unknown) => {
    request.log.error({ err, error_code: error.code }, 'could not audit an unroutable request')
    answer()
  })
}

/**
 * One audit entry per request: this hook starts the clock and the request's audit facts; the
 * entry is committed in onSend by the commit point (src/http/commit-point.ts), in the same
 * transaction as the request's other writes, before the response leaves.
 */
export function registerAuditHook(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply) => AuditFacts {
  // measured from our own first hook: Fastify's elapsedTime starts only once a route is found
  const receivedAt = new WeakMap<FastifyRequest, number>()
  app.decorateRequest('audit', null as never)
  app.addHook('onRequest', async (request) => {
    request.audit = {}
    receivedAt.set(request, performance.now())
  })
  return (request, reply) => entryOf(request, reply.statusCode, performance.now() - (receivedAt.get(request) ?? performance.now()), request.audit ?? {})
}
