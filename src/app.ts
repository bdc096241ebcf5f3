import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { auditRoutes } from '../routes/audit.js'
import { commitRoutes } from '../routes/commits.js'
import { exportRoutes } from '../routes/exports.js'
import { healthRoutes } from '../routes/health.js'
import { issueRoutes } from '../routes/issues.js'
import { kpiRoutes } from '../routes/kpis.js'
import { statusRoutes } from '../routes/status.js'
import { workflowRoutes } from '../routes/workflows.js'
import { registerAuth, verifySignedWebhook } from './auth/hook.js'
import { answerUnroutable, redactedPath, registerAuditHook } from './http/audit-hook.js'
import { answerClientError } from './http/client-error.js'
import { registerCommitPoint } from './http/commit-point.js'
import { FixedWindowLimiter } from './http/fixed-window.js'
import { registerMetrics, registerMetricsRoute } from './http/metrics.js'
import { RefusalLedger } from './http/refusal-ledger.js'
import { registerBodyParsers } from './http/body-parsers.js'
import { registerErrorHandling, registerNotFound } from './http/error-handler.js'
import { registerIdempotency } from './http/idempotency-hook.js'
import { registerOpenApi } from './http/openapi.js'
import { registerProtection } from './http/protection.js'
import { SharedRequestCounter } from './http/shared-request-counter.js'
import type { Services } from './services.js'

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
/** RATE_LIMIT_MAX counts requests per caller in windows of this length */
const RATE_WINDOW_MS = 60_000

/** The request as Fastify's "incoming request" log line shows it: secret-looking query values redacted, as in the audit. */
function requestForLog(request: FastifyRequest) {
  return { method: request.method, url: redactedPath(request.url), host: request.host, remoteAddress: request.ip }
}

export interface AppOptions {
  services: Services
  logger?: FastifyServerOptions['logger']
}

/** Builds the Fastify instance — used by the server and by tests (`app.inject`). */
export async function buildApp({ services, logger }: AppOptions): Promise<FastifyInstance> {
  const { config, rateLimitTiming: timing } = services
  const ledger = new RefusalLedger(undefined, RATE_WINDOW_MS, timing.now)
  // requests that never reach a route (unmatched paths, undecodable URLs, malformed HTTP) have a limiter of their own
  const unroutedLimiter = new FixedWindowLimiter(config.rateLimitMax, RATE_WINDOW_MS, timing.now)
  const guard = { audit: services.audit, ledger, limiter: unroutedLimiter }
  const app = Fastify({
    logger: logger === false ? false : { level: services.config.logLevel, ...(typeof logger === 'object' ? logger : {}), serializers: { req: requestForLog } },
    bodyLimit: services.config.bodyLimit,
    // /issues/ reaches /issues: a trailing slash is no reason for a 404
    routerOptions: { ignoreTrailingSlash: true },
    // a caller's x-request-id is kept when it is harmless, so ids can be followed across systems
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
    },
    // A URL Fastify cannot even decode never reaches a route or a hook: answer and audit it here.
    frameworkErrors: (error, request, reply) => answerUnroutable(error, request, reply, guard),
    // malformed HTTP and timed-out partial requests: a problem+json answer with a request id, audited
    clientErrorHandler: (error, socket) => answerClientError(error, socket, guard),
    // while draining, requests on open keep-alive sockets are still answered (with Connection: close)
    // so they get a real, audited answer instead of Fastify's bare 503
    return503OnClosing: false,
    // a client that trickles its body cannot hold a request (or a shutdown) open forever, and idle
    // or half-sent connections cannot pile up until the process runs out of file descriptors
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionTimeout: config.requestTimeoutMs,
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs) },
  }).withTypeProvider<ZodTypeProvider>()
  app.server.maxConnections = config.maxConnections

  registerBodyParsers(app, services.config.bodyLimit, (request, raw) => verifySignedWebhook(request, raw, services.config.webhookKey))
  app.setValidatorCompiler(validatorCompiler)
  // The handlers' answers are typed by the same schemas, so production stringifies them directly;
  // a zod encode before every stringify cost about 100 µs per workflow answer. The test suite sets
  // RESPONSE_VALIDATION=1, so every response it sees is also checked against its schema.
  app.setSerializerCompiler(services.config.responseValidation ? serializerCompiler : () => (data) => JSON.stringify(data))
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  registerErrorHandling(app)
  const auditEntryOf = registerAuditHook(app)
  registerAuth(app, services.config.apiKeys, services.config.webhookKey)
  // several instances share one PostgreSQL: the rate limit is the cluster's, counted there
  const sharedCounts =
    services.db.dialect === 'postgres'
      ? new SharedRequestCounter(services.db, config.rateLimitMax, RATE_WINDOW_MS, app.log, {
          maxInFlight: Math.max(1, Math.floor(config.database.poolSize / 4)),
          waitMs: timing.sharedCountWaitMs,
          now: timing.now,
        })
      : undefined
  await registerProtection(app, services.config.rateLimitMax, unroutedLimiter, sharedCounts)
  registerNotFound(app)
  registerIdempotency(app, services.idempotency)
  // last onSend hook: the request's writes and its audit entry, in one transaction
  registerCommitPoint(app, {
    db: services.db,
    audit: services.audit,
    health: services.storeHealth,
    ledger,
    entryOf: auditEntryOf,
    onAppended: () => services.metrics.auditEntries.inc(),
  })
  registerMetrics(app, services.metrics)
  const flushLedger = async (force: boolean) => {
    for (const entry of ledger.flush(force)) await services.audit.record(entry)
  }
  const flushTimer = setInterval(() => {
    flushLedger(false).catch((err: unknown) => app.log.error({ err }, 'could not record the rate-limit refusal counts; they are logged instead'))
    sharedCounts?.prune().catch((err: unknown) => app.log.warn({ err }, 'could not remove ended rate-limit windows; the next minute tries again'))
  }, RATE_WINDOW_MS).unref()
  // preClose: before the server's onClose hooks close the database
  app.addHook('preClose', async () => {
    clearInterval(flushTimer)
    await flushLedger(true)
  })
  // after the last request: releases still waiting for the database are left to the key's lease
  app.addHook('onClose', async () => services.idempotency.stopRetries())
  await registerOpenApi(app, { keysConfigured: services.config.apiKeys.length > 0 })
  registerMetricsRoute(app, services.metrics)

  await app.register(issueRoutes, { services })
  await app.register(kpiRoutes, { services })
  await app.register(workflowRoutes, { services })
  await app.register(exportRoutes, { services })
  await app.register(commitRoutes, { services })
  await app.register(auditRoutes, { services })
  await app.register(statusRoutes, { services })
  await app.register(healthRoutes, { services })
  return app
}
