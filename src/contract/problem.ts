import { z } from 'zod'

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
    errors: z.array(FieldError).optional(),
  })
  .meta({
    id: 'Problem',
    examples: [
      {
        type: 'https://auto-feature-builder.dev/problems/validation',
        title: 'Invalid request',
        status: 400,
        detail: '2 fields are invalid',
        instance: '/issues',
        request_id: '8f9c1a52-3c2e-4d7e-9d38-1f6b8d1e2a40',
        errors: [
          { path: 'severity', in: 'body', message: 'Invalid option: expected one of "low"|"medium"|"high"|"critical"' },
          { path: 'metric_value', in: 'body', message: 'Invalid input: expected number, received string' },
        ],
      },
    ],
  })
export type Problem = z.infer<typeof Problem>

/** Response map entries for the error statuses a route can produce. */
export function problems(...statuses: number[]): Record<number, typeof Problem> {
  return Object.fromEntries(statuses.map((s) => [s, Problem]))
}
