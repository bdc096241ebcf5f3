import { z } from 'zod'

/**
 * How many faults one answer lists. A 1 MB body can hold ~74 000 unknown fields: listing each (with a
 * "did you mean") made a 15 MB answer and an 800 KB audit entry, repeatable at the rate limit. An
 * answer lists the first ones and the full count (src/http/fault-list.ts bounds the rest).
 */
export const MAX_LISTED_ERRORS = 20

/** RFC 9457 problem details — the body of every 4xx/5xx answer. */
export const FieldError = z
  .object({
    path: z.string().describe('Where the fault is, e.g. "metric_value" or "affected_items.3"'),
    in: z.enum(['body', 'querystring', 'params', 'headers']).optional(),
    message: z.string(),
  })
  .meta({ id: 'FieldError' })

export const Problem = z
  .object({
    type: z.string().describe('A URI naming the kind of problem'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().describe('The request path'),
    request_id: z.string(),
    errors: z.array(FieldError).max(MAX_LISTED_ERRORS).optional().describe(`The faults found: the first ${MAX_LISTED_ERRORS} at most, each path and message bounded`),
    error_count: z.number().int().optional().describe(`How many faults were found; \`errors\` lists the first ${MAX_LISTED_ERRORS}`),
  })
  .meta({
    id: 'Problem',
    // OpenAPI 3.0 schemas take one `example` (`examples` is a 3.1 / JSON Schema keyword)
    example: {
      type: 'urn:auto-feature-builder:problem:validation',
      title: 'Invalid request',
      status: 400,
      detail: '2 fields are invalid in the body: severity, metric_value',
      instance: '/issues',
      request_id: '8f9c1a52-3c2e-4d7e-9d38-1f6b8d1e2a40',
      errors: [
        { path: 'severity', in: 'body', message: 'Invalid option: expected one of "low"|"medium"|"high"|"critical"' },
        { path: 'metric_value', in: 'body', message: 'Invalid input: expected number, received string' },
      ],
      error_count: 2,
    },
  })
export type Problem = z.infer<typeof Problem>

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: `Invalid request: \`errors\` names the bad fields (the first ${MAX_LISTED_ERRORS}), \`error_count\` says how many there are`,
  401: 'Missing or unknown credentials',
  403: 'The credentials lack the role this needs',
  404: 'No such resource',
  409: 'Conflict with the current state',
  413: 'Body larger than BODY_LIMIT',
  415: 'Content type is not application/json (or form-urlencoded where accepted)',
  422: 'Idempotency key reused with a different payload',
  429: 'Too many requests',
  503: 'A dependency is unavailable',
}

/** Response map entries for the error statuses a route can produce, served as application/problem+json. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: PROBLEM_DESCRIPTIONS[status] ?? 'Error', content: { 'application/problem+json': { schema: Problem } } },
    ]),
  )
}
