import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod'
import { MAX_LISTED_ERRORS, type Problem } from '../contract/problem.js'
import { StoreUnavailable } from '../store/sql.js'
import { boundedText } from '../text/well-formed.js'
import { boundedFieldError, listedFieldErrors, MAX_PROBLEM_DETAIL_BYTES, namedList } from './fault-list.js'
import { ProblemError, problemType, ServiceUnavailable, type FieldError } from './problem.js'
import './types.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

type Location = NonNullable<FieldError['in']>
const LOCATIONS: readonly string[] = ['body', 'querystring', 'params', 'headers']

type ProblemFacts = Omit<Problem, 'instance' | 'request_id' | 'errors' | 'error_count'> & { errors?: FieldError[] | undefined; errorCount?: number | undefined }

/**
 * Every problem answer passes here, so every one is bounded the same way whatever its cause: the first
 * MAX_LISTED_ERRORS faults with the full count, names, messages and the detail cut (src/http/fault-list.ts).
 */
function sendProblem(request: FastifyRequest, reply: FastifyReply, { errors, errorCount, ...facts }: ProblemFacts) {
  const detail = boundedText(facts.detail, MAX_PROBLEM_DETAIL_BYTES)
  request.audit.detail ??= detail
  const listed = errors && { errors: errors.slice(0, MAX_LISTED_ERRORS).map(boundedFieldError), error_count: errorCount ?? errors.length }
  return reply
    .code(facts.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send({ ...facts, detail, ...listed, instance: request.url.split('?')[0] ?? request.url, request_id: String(request.id) } satisfies Problem)
}

/** zod's "/affected_items/3" → "affected_items.3"; the whole body → "(body)". */
function fieldPath(instancePath: string, location: string): string {
  const path = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.')
  return path || `(${location})`
}

/** Fastify's own 4xx codes (content type, size, JSON syntax) keep their status with a clear title. */
const FASTIFY_TITLES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Unsupported content type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'Body too large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'Empty JSON body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'Malformed JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Invalid content length',
}

/** Unmatched routes answer a 404 problem (rate-limited in src/http/protection.ts like every request). */
export function registerNotFound(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? ''
    // the path exists with other methods (GET /issues): 405 with Allow, not "no such route"
    const allowed = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((method) => app.hasRoute({ method, url: path.replace(/\/$/, '') || '/' }))
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '))
      return sendProblem(request, reply, { type: problemType('method-not-allowed'), title: 'Method Not Allowed', status: 405, detail: `${path} answers ${allowed.join(', ')}, not ${request.method}` })
    }
    return sendProblem(request, reply, { type: problemType('not-found'), title: 'Not Found', status: 404, detail: `No route ${request.method} ${path}` })
  })
}

/** The one place where errors become HTTP answers: always application/problem+json. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) {
      if (error instanceof ServiceUnavailable) reply.header('retry-after', String(error.retryAfterSeconds))
      return sendProblem(request, reply, {
        type: problemType(error.slug),
        title: error.title,
        status: error.status,
        detail: error.message,
        errors: error.errors,
        errorCount: error.errorCount,
      })
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const location = LOCATIONS.includes(error.validationContext ?? '') ? (error.validationContext as Location) : 'body'
      // zod reports every fault (10 000 bad affected items are 10 000): the answer describes the first ones
      const { errors, count } = listedFieldErrors(error.validation, (v) => ({ path: fieldPath(v.instancePath, location), in: location, message: v.message ?? 'invalid' }))
      return sendProblem(request, reply, {
        type: problemType('validation'),
        title: 'Invalid request',
        status: 400,
        detail: `${count} ${count === 1 ? 'field is' : 'fields are'} invalid in the ${location}: ${namedList([...new Set(errors.map((e) => e.path))])}${count > errors.length ? ', …' : ''}`,
        errors,
        errorCount: count,
      })
    }
    if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return sendProblem(request, reply, {
        type: problemType('malformed-json'),
        title: 'Malformed JSON',
        status: 400,
        detail: `The body is not valid JSON: ${error.message}`,
      })
    }
    if ((error as unknown) instanceof StoreUnavailable) {
      // expected while the database is away: one line per request, without a stack (an outage would bury the log in
      // them); a deadlock, a timeout or a refused login keeps its cause, to be looked into
      const away = /^(08|57P|55000$|E[A-Z]+$|connection$|SQLITE_)/.test(error.code)
      request.log.warn({ code: error.code, reason: error.message, ...(!away && { err: error }) }, 'the database cannot serve this request now; answering 503')
      reply.header('retry-after', '5')
      return sendProblem(request, reply, {
        type: problemType('store-unavailable'),
        title: 'Store unavailable',
        status: 503,
        detail: `The database cannot serve this request right now (${error.code}); nothing was changed. Retry later — /readyz says when the store is back.`,
      })
    }
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      return sendProblem(request, reply, {
        type: error.code && FASTIFY_TITLES[error.code] ? problemType(error.code.toLowerCase().replace(/^fst_err_/, '').replace(/_/g, '-')) : 'about:blank',
        title: (error.code && FASTIFY_TITLES[error.code]) ?? STATUS_CODES[status] ?? 'Client error',
        status,
        detail:
          error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? `${error.message}; send content-type: application/json (or application/x-www-form-urlencoded where the route says so)`
            : error.message,
      })
    }
    if (isResponseSerializationError(error)) request.log.error({ err: error, issues: error.cause.issues }, 'response did not match its schema')
    else request.log.error({ err: error }, 'unhandled error')
    return sendProblem(request, reply, {
      type: problemType('internal'),
      title: 'Internal Server Error',
      status: status >= 500 && status < 600 ? status : 500,
      detail: 'The service failed to handle this request; the request id identifies it in the logs.',
    })
  })
}
