import type { IncomingMessage, ServerResponse } from 'node:http'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'
import type { FixedWindowLimiter } from './fixed-window.js'
import { ProblemError } from './problem.js'

/** Per API key; without one, per IP (signed webhooks apart, so key-guessing cannot starve them). */
function bucketOf(request: FastifyRequest): string {
  return request.caller?.actor ? `key:${request.caller.actor}` : `${request.headers['webhook-signature'] ? 'webhook' : 'anonymous'}:${request.ip}`
}

const HELMET_OPTIONS: HelmetOptions = {
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
}

/**
 * Helmet's headers for these options, computed once. (The Fastify plugin built Helmet's
 * middleware anew, CSP parsing included, on every request; the headers never change.)
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value)
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()]
    },
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => {})
  return headers
}

/**
 * Security headers and a per-caller rate limit. The limit is keyed by API key id (so one noisy
 * integration cannot starve the others behind the same proxy), by IP without a key.
 * Probes are exempt: an orchestrator polling /healthz must never be told to back off.
 */
export async function registerProtection(app: FastifyInstance, rateLimitMax: number, unmatchedLimiter: FixedWindowLimiter): Promise<void> {
  const headers = securityHeaders(HELMET_OPTIONS)
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers)
  })
  // Unmatched paths get no route hook from the plugin: they are counted here, after the caller is
  // identified and before any refusal, so neither a stream of 401s nor of 404s goes unthrottled —
  // and a 404 (valid key) vs 401 (invalid key) difference cannot be probed faster than the limit.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url !== undefined) return
    if (!unmatchedLimiter.allow(bucketOf(request))) {
      throw new ProblemError(429, 'Too Many Requests', `More than ${rateLimitMax} requests in a minute; retry after 1 minute.`, 'rate-limited')
    }
  })
  await app.register(rateLimit, {
    max: rateLimitMax,
    timeWindow: 60_000,
    allowList: (request) => ['/healthz', '/readyz'].includes(request.routeOptions.url ?? ''),
    keyGenerator: bucketOf,
    errorResponseBuilder: (_request, context) =>
      new ProblemError(429, 'Too Many Requests', `More than ${context.max} requests in a minute; retry after ${context.after}.`, 'rate-limited'),
  })
}
