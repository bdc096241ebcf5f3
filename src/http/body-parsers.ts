import type { FastifyInstance, FastifyRequest } from 'fastify'
import secureJson from 'secure-json-parse'
import { BadRequest, ProblemError } from './problem.js'
import { findDuplicateKey } from './json-duplicates.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received — webhook signatures and idempotency fingerprints are computed over it. */
    rawBody?: Buffer
  }
}

/**
 * The most name=value pairs a form body may carry: room for the 10 000 affected items the
 * contract allows as repeated keys, plus the other fields. More is refused before any work.
 */
export const MAX_FORM_PAIRS = 10_100

class TooManyFormFields extends ProblemError {
  constructor() {
    super(413, 'Too many form fields', `A form body may carry at most ${MAX_FORM_PAIRS} name=value pairs; send a long affected_items list as JSON or comma-separated`, 'too-many-form-fields')
  }
}

/**
 * Form fields as an object without a prototype, so a `__proto__` field is just a field.
 * Linear in the body: repeats are pushed onto one array (copying it per repeat made 80 000
 * repeats take 85 s on the event loop), and the pair count is checked before parsing.
 */
export function parseForm(text: string): Record<string, string | string[]> {
  let pairs = 1
  for (let i = text.indexOf('&'); i !== -1; i = text.indexOf('&', i + 1)) {
    if (++pairs > MAX_FORM_PAIRS) throw new TooManyFormFields()
  }
  const fields: Record<string, string | string[]> = Object.create(null)
  for (const [key, value] of new URLSearchParams(text)) {
    const existing = fields[key]
    if (existing === undefined) fields[key] = value
    else if (Array.isArray(existing)) existing.push(value)
    else fields[key] = [existing, value]
  }
  return fields
}

class JsonSentAsForm extends ProblemError {
  constructor() {
    super(415, 'JSON sent as a form', 'The body looks like JSON but its content-type is application/x-www-form-urlencoded (curl -d does that); send content-type: application/json', 'json-sent-as-form')
  }
}

/** Runs on the raw bytes before a body is parsed: a signed webhook's signature is checked here, first. */
export type BeforeParse = (request: FastifyRequest, raw: Buffer) => void

/**
 * The only two body encodings of the contract, both parsed from the raw bytes (kept on
 * `request.rawBody`): JSON — prototype poisoning and duplicate keys refused — and form-urlencoded.
 * Anything else is Fastify's 415.
 */
export function registerBodyParsers(app: FastifyInstance, bodyLimit: number, beforeParse: BeforeParse = () => {}): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const raw = body as Buffer
    request.rawBody = raw
    try {
      beforeParse(request, raw)
    } catch (err) {
      return done(err as Error, undefined)
    }
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
    try {
      beforeParse(request, raw)
      const text = raw.toString('utf8')
      // curl -d '{"issue_type":…}' sends a form: say what happened instead of "4 fields are invalid"
      if (/^\s*[[{]/.test(text)) throw new JsonSentAsForm()
      done(null, parseForm(text))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
}
