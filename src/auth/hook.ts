import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isLoopback } from '../config.js'
import { ProblemError } from '../http/problem.js'
import '../http/types.js'
import { findKey, hasRole, type ApiKey, type Role } from './keys.js'
import { verifyWebhook } from './webhook.js'

/** Who is calling. `roles: 'all'` is protected mode's local caller. */
export interface Caller {
  actor: string | null
  roles: ReadonlySet<Role> | 'all'
  via: 'key' | 'webhook' | 'local' | 'none'
}

/** What a route needs: nothing (`public`) or a role. Routes say it in `config.access`. */
export type Access = 'public' | Role

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
  interface FastifyContextConfig {
    access?: Access
    /** said with a 403, e.g. that a real commit needs more than the read role a preview needs */
    roleHint?: string
  }
}

export class Unauthorized extends ProblemError {
  constructor(detail: string) {
    super(401, 'Unauthorized', detail, 'unauthorized')
  }
}

export class Forbidden extends ProblemError {
  constructor(detail: string) {
    super(403, 'Forbidden', detail, 'forbidden')
  }
}

const NOBODY: Caller = { actor: null, roles: new Set(), via: 'none' }
const LOCAL: Caller = { actor: null, roles: 'all', via: 'local' }
const PUBLIC_PREFIXES = ['/docs']

function accessOf(request: FastifyRequest): Access | 'matched-by-nothing' {
  const url = request.routeOptions.url
  if (url === undefined) return 'matched-by-nothing'
  if (PUBLIC_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`))) return 'public'
  return request.routeOptions.config.access ?? 'admin' // an undeclared route is closed, not open
}

function presentedKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim()
  const header = request.headers['x-api-key']
  return typeof header === 'string' ? header.trim() : undefined
}

export function callerHasRole(caller: Caller, role: Role): boolean {
  return caller.roles === 'all' || hasRole({ roles: caller.roles }, role)
}

/** Throws 403 unless the caller holds `role` (for checks that depend on the body, like dry_run: false). */
export function requireRole(request: FastifyRequest, role: Role): void {
  if (!callerHasRole(request.caller, role)) {
    const hint = request.routeOptions.config.roleHint
    throw new Forbidden(`${request.caller.actor ? `The key ${request.caller.actor}` : 'This caller'} lacks the ${role} role this request needs${hint ? `; ${hint}` : ''}`)
  }
}

/**
 * Authentication and roles. With no keys configured the service is in protected mode and
 * answers loopback callers only. A signed webhook (Standard Webhooks) authorizes ingest
 * without a key; its signature is checked once the raw body has been read.
 */
export function registerAuth(app: FastifyInstance, keys: readonly ApiKey[], webhookKey: Buffer | undefined): void {
  app.decorateRequest('caller', null as never)

  // Identify first, refuse later: the rate limiter (a route onRequest hook, so after this one) then
  // counts failed attempts too, and the security headers are set before any refusal is sent.
  app.addHook('onRequest', async (request) => {
    request.caller = NOBODY
    if (keys.length === 0) {
      if (isLoopback(request.socket.remoteAddress)) request.caller = LOCAL
      return
    }
    const presented = presentedKey(request)
    const key = presented ? findKey(keys, presented) : undefined
    if (key) {
      request.caller = { actor: key.id, roles: key.roles, via: 'key' }
      request.audit.actor = key.id
    }
  })

  // preParsing: before any body is read, so an unauthenticated caller's body is never parsed
  app.addHook('preParsing', async (request, reply) => {
    const access = accessOf(request)
    if (keys.length === 0) {
      if (request.caller.via !== 'local') {
        throw new Forbidden('Protected mode: no API keys are configured, so only loopback callers are served. Configure API_KEYS.')
      }
      return
    }
    if (access === 'public') return
    const presented = presentedKey(request)
    if (request.caller.via !== 'key') {
      if (!presented && webhookKey && access === 'ingest' && request.headers['webhook-signature'] !== undefined) return // verified in preValidation
      reply.header('www-authenticate', 'Bearer realm="auto-feature-builder"')
      throw new Unauthorized(presented ? 'The API key is not known' : 'An API key is required: Authorization: Bearer <key> or X-API-Key: <key>')
    }
    if (access !== 'matched-by-nothing') requireRole(request, access)
  })

  if (!webhookKey) return
  // A body that reaches no parser (none sent) is checked here, with the empty body it has.
  app.addHook('preValidation', async (request) => verifySignedWebhook(request, request.rawBody ?? Buffer.alloc(0), webhookKey))
}

/**
 * A request that claims to be a signed webhook is verified over its raw bytes before its body is
 * parsed (the body parsers call this first), so an unsigned body costs an HMAC and nothing more.
 */
export function verifySignedWebhook(request: FastifyRequest, raw: Buffer, webhookKey: Buffer | undefined): void {
  if (!webhookKey || request.caller.via !== 'none' || accessOf(request) !== 'ingest') return
  const header = (name: string) => {
    const value = request.headers[name]
    return typeof value === 'string' ? value : undefined
  }
  const verdict = verifyWebhook(
    webhookKey,
    { id: header('webhook-id'), timestamp: header('webhook-timestamp'), signature: header('webhook-signature') },
    raw,
    Math.floor(Date.now() / 1000),
  )
  if (!verdict.ok) throw new Unauthorized(`Webhook signature rejected: ${verdict.reason}`)
  request.caller = { actor: 'webhook', roles: new Set<Role>(['ingest']), via: 'webhook' }
  request.audit.actor = 'webhook'
}
