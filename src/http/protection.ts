import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { ProblemError } from './problem.js'

/**
 * Security headers and a per-caller rate limit. The limit is keyed by API key id (so one noisy
 * integration cannot starve the others behind the same proxy), by IP without a key.
 * Probes are exempt: an orchestrator polling /healthz must never be told to back off.
 */
export async function registerProtection(app: FastifyInstance, rateLimitMax: number): Promise<void> {
  await app.register(helmet, {
    // Swagger UI loads its own scripts and styles from /docs/static and uses inline styles
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        baseUri: ["'self'"],
        objectSrc: ["'none'"],
        // the service is served over plain HTTP by default: upgrading /docs assets to https would break Swagger UI
        upgradeInsecureRequests: null,
      },
    },
    // served over plain HTTP on loopback by default; HSTS belongs to the TLS terminator in front
    strictTransportSecurity: false,
  })
  await app.register(rateLimit, {
    max: rateLimitMax,
    timeWindow: 60_000,
    allowList: (request) => ['/healthz', '/readyz'].includes(request.routeOptions.url ?? ''),
    // signed webhooks are identified only after the body is read: they get a bucket of their own,
    // so key-guessing from the same address cannot starve them
    keyGenerator: (request) =>
      request.caller?.actor ? `key:${request.caller.actor}` : `${request.headers['webhook-signature'] ? 'webhook' : 'anonymous'}:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new ProblemError(429, 'Too Many Requests', `More than ${context.max} requests in a minute; retry after ${context.after}.`, 'rate-limited'),
  })
}
