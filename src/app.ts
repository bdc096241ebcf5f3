import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { auditRoutes } from '../routes/audit.js'
import { commitRoutes } from '../routes/commits.js'
import { exportRoutes } from '../routes/exports.js'
import { healthRoutes } from '../routes/health.js'
import { issueRoutes } from '../routes/issues.js'
import { statusRoutes } from '../routes/status.js'
import { workflowRoutes } from '../routes/workflows.js'
import { registerAuth } from './auth/hook.js'
import { answerUnroutable, redactedPath, registerAuditHook } from './http/audit-hook.js'
import { registerBodyParsers } from './http/body-parsers.js'
import { registerErrorHandling } from './http/error-handler.js'
import { registerIdempotency } from './http/idempotency-hook.js'
import { registerOpenApi } from './http/openapi.js'
import { registerProtection } from './http/protection.js'
import type { Services } from './services.js'

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

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
  const app = Fastify({
    logger: logger === false ? false : { level: services.config.logLevel, ...(typeof logger === 'object' ? logger : {}), serializers: { req: requestForLog } },
    bodyLimit: services.config.bodyLimit,
    // a caller's x-request-id is kept when it is harmless, so ids can be followed across systems
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID()
    },
    // A URL Fastify cannot even decode never reaches a route or a hook: answer and audit it here.
    frameworkErrors: (error, request, reply) => answerUnroutable(error, request, reply, services.audit),
    // while draining, requests on open keep-alive sockets are still answered (with Connection: close)
    // so they get a real, audited answer instead of Fastify's bare 503
    return503OnClosing: false,
    // a client that trickles its body cannot hold a request (or a shutdown) open forever
    requestTimeout: 30_000,
  }).withTypeProvider<ZodTypeProvider>()

  registerBodyParsers(app, services.config.bodyLimit)
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  registerErrorHandling(app)
  registerAuditHook(app, services.audit)
  registerAuth(app, services.config.apiKeys, services.config.webhookKey)
  await registerProtection(app, services.config.rateLimitMax)
  registerIdempotency(app, services.idempotency)
  await registerOpenApi(app)

  await app.register(issueRoutes, { services })
  await app.register(workflowRoutes, { services })
  await app.register(exportRoutes, { services })
  await app.register(commitRoutes, { services })
  await app.register(auditRoutes, { services })
  await app.register(statusRoutes, { services })
  await app.register(healthRoutes, { services })
  return app
}
