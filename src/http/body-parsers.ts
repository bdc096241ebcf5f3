import type { FastifyInstance } from 'fastify'
import secureJson from 'secure-json-parse'
import { BadRequest, ProblemError } from './problem.js'
import { findDuplicateKey } from './json-duplicates.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received — webhook signatures and idempotency fingerprints are computed over it. */
    rawBody?: Buffer
  }
}

/** Form fields as an object without a prototype, so a `__proto__` field is just a field. */
export function parseForm(text: string): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = Object.create(null)
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = fields[key]
    fields[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return fields
}

/**
 * The only two body encodings of the contract, both parsed from the raw bytes (kept on
 * `request.rawBody`): JSON — prototype poisoning and duplicate keys refused — and form-urlencoded.
 * Anything else is Fastify's 415.
 */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const raw = body as Buffer
    request.rawBody = raw
    const text = raw.toString('utf8')
    if (text.trim() === '') return done(new ProblemError(400, 'Empty JSON body', 'The body is empty but content-type is application/json', 'ctp-empty-json-body'), undefined)
    let value: unknown
    try {
      value = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
    } catch (err) {
      const syntax = new SyntaxError((err as Error).message)
      return done(syntax, undefined)
    }
    const duplicate = findDuplicateKey(text)
    if (duplicate !== null) {
      return done(new BadRequest(`The JSON body has the key "${duplicate}" twice in one object`, [{ path: duplicate, in: 'body', message: 'duplicate key' }]), undefined)
    }
    done(null, value)
  })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const raw = body as Buffer
    request.rawBody = raw
    done(null, parseForm(raw.toString('utf8')))
  })
}
