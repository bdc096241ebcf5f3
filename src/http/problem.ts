import { STATUS_CODES } from 'node:http'

export interface FieldError {
  path: string
  in?: 'body' | 'querystring' | 'params' | 'headers'
  message: string
}

/**
 * An error that knows its HTTP answer. Everything the core wants to tell a caller is one of
 * these; the single error handler in src/http/error-handler.ts turns it into problem+json.
 */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly slug: string,
    readonly errors?: FieldError[],
    /** how many faults there were: `errors` may list only the first ones (src/http/fault-list.ts) */
    readonly errorCount = errors?.length,
  ) {
    super(detail)
  }
}

export const problemType = (slug: string): string => `urn:auto-feature-builder:problem:${slug}`

export class BadRequest extends ProblemError {
  constructor(detail: string, errors?: FieldError[], errorCount?: number) {
    super(400, 'Invalid request', detail, 'validation', errors, errorCount)
  }
}

export class NotFound extends ProblemError {
  constructor(detail: string) {
    super(404, STATUS_CODES[404] ?? 'Not Found', detail, 'not-found')
  }
}

export class Conflict extends ProblemError {
  constructor(title: string, detail: string, slug = 'conflict') {
    super(409, title, detail, slug)
  }
}

/** A dependency (the shared git remote) cannot serve the request now: 503 with Retry-After. */
export class ServiceUnavailable extends ProblemError {
  constructor(
    title: string,
    detail: string,
    slug: string,
    readonly retryAfterSeconds: number,
  ) {
    super(503, title, detail, slug)
  }
}
