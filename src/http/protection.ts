import type { IncomingMessage, ServerResponse } from 'node:http'
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import helmet, { type HelmetOptions } from 'helmet'
import { clientNetwork } from './client-network.js'
import type { FixedWindowLimiter } from './fixed-window.js'
import { ProblemError } from './problem.js'
import type { SharedRequestCounter } from './shared-request-counter.js'

/** Per API key; without one, per IPv4 address or IPv6 /64 (signed webhooks apart, so key-guessing cannot starve them). */
function bucketOf(request: FastifyRequest): string {
  return request.caller?.actor ? `key:${request.caller.actor}` : `${request.headers['webhook-signature'] ? 'webhook' : 'anonymous'}:${clientNetwork(request.ip)}`
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

/** The rate-limit plugin's store, counting in `counter` (the plugin's own store counts in this process). */
function storeCounting(counter: SharedRequestCounter): FastifyRateLimitStoreCtor {
  return class SharedStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void): void {
      counter.hit(key).then(
        ({ count, resetInMs }) => callback(null, { current: count, ttl: resetInMs }),
        (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
      )
    }
    child(): FastifyRateLimitStore {
      return this
    }
  }
}

/** Probes answer however often they are asked: an orchestrator's liveness check is never a 429. */
export const NOT_RATE_LIMITED: readonly string[] = ['/healthz', '/readyz']

/**
 * Security headers and a per-caller rate limit. The limit is keyed by API key id (so one noisy
 * integration cannot starve the others behind the same proxy), by IP without a key.
 * Probes are exempt: an orchestrator polling /healthz must never be told to back off.
 * With `shared` (several instances on PostgreSQL) the counts are the cluster's, not this process's.
 */
export async function registerProtection(app: FastifyInstance, rateLimitMax: number, unmatchedLimiter: FixedWindowLimiter, shared?: SharedRequestCounter): Promise<void> {
  const headers = securityHeaders(HELMET_OPTIONS)
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers)
  })
  // Unmatched paths get no route hook from the plugin: they are counted here, after the caller is
  // identified and before any refusal, so neither a stream of 401s nor of 404s goes unthrottled —
  // and a 404 (valid key) vs 401 (invalid key) difference cannot be probed faster than the limit.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url !== undefined) return
    const bucket = `unmatched:${bucketOf(request)}`
    const count = shared ? (await shared.hit(bucket)).count : unmatchedLimiter.hit(bucket).count
    if (count > rateLimitMax) {
      throw new ProblemError(429, 'Too Many Requests', `More than ${rateLimitMax} requests in a minute; retry after 1 minute.`, 'rate-limited')
    }
  })
  await app.register(rateLimit, {
    ...(shared && { store: storeCounting(shared) }),
    max: rateLimitMax,
    timeWindow: 60_000,
    allowList: (request) => NOT_RATE_LIMITED.includes(request.routeOptions.url ?? ''),
    keyGenerator: bucketOf,
    errorResponseBuilder: (_request, context) =>
      new ProblemError(429, 'Too Many Requests', `More than ${context.max} requests in a minute; retry after ${context.after}.`, 'rate-limited'),
  })
}
