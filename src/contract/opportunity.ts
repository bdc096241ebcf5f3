import { z } from 'zod'
import { anyCaseEnum, emptyMeansAbsent, listOrCommaList } from './lenient.js'
import { decimalNumber } from './numbers.js'

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const
export const Severity = z.enum(SEVERITIES)
export type Severity = z.infer<typeof Severity>

export const MAX_AFFECTED_ITEMS = 10_000

/** A severity as a detection sends it: any letter case ("High"), stored as listed. */
export const SeverityInput = anyCaseEnum(SEVERITIES).describe('low, medium, high or critical, in any letter case')

const METRIC_VALUE_HINT = 'metric_value must be a number, e.g. 0.08 for a rate of 8% or 527 for 527 abandoned carts'

/** How a detection groups with an open workflow of its type (POST /issues and POST /kpis alike). */
export const GroupingFields = {
  dedup_key: z
    .string()
    .max(200)
    // a key names something (a store, a region): a control character in it is a mistake, and PostgreSQL text cannot hold NUL
    .regex(/^\P{Cc}*$/u, 'must not contain control characters (send the plain identifier, e.g. store-17)')
    .optional()
    .describe('Groups more finely than the issue type, e.g. a store id: detections group only with the same dedup_key (PagerDuty dedup_key); empty = none'),
  group: z.boolean().default(true).describe('false: always generate a new workflow, even when an open one of this type exists'),
}
/** The latest instant a JavaScript Date can hold (8.64e15 ms), in unix seconds: later ones cannot be stored as ISO-8601. */
export const MAX_UNIX_SECONDS = 8_640_000_000_000

/** When a detection was seen (POST /issues, POST /kpis): unix seconds or ISO-8601; empty or absent is the time received. */
export const DetectionTimestamp = emptyMeansAbsent(z.union([z.number().nonnegative().max(MAX_UNIX_SECONDS).describe('unix seconds'), z.iso.datetime({ offset: true })])).optional()

/**
 * The body of `POST /issues`. Built per app because the issue types are the playbook folders
 * found at start-up: a seventh folder makes a seventh accepted type, in validation and docs alike.
 * Form bodies reach this schema after `formBodyCoercion` (src/http/form-body.ts) turned their strings into these types.
 */
export function opportunityInput(issueTypes: readonly string[]) {
  return z
    .object({
      issue_type: anyCaseEnum(issueTypes as [string, ...string[]]).describe('Which playbook to run; one folder under templates/ (any letter case)'),
      severity: SeverityInput,
      description: z.string().min(1).max(2000),
      metric_value: decimalNumber('metric_value', METRIC_VALUE_HINT).describe(
        "The engine's own figure, e.g. 0.08 for 8% churn or 527 for 527 abandoned carts (a decimal string such as \"0.08\" too); finite, not range-checked (POST /kpis carries the measured rates)",
      ),
      affected_items: listOrCommaList(z.string().min(1).max(256), MAX_AFFECTED_ITEMS).default([]).describe('What the opportunity concerns: an array, or a comma-separated list'),
      timestamp: DetectionTimestamp.describe('When the engine saw the opportunity; default: time received'),
      feature_suggestion: z.string().max(200).optional(),
      source: z.string().max(100).optional().describe('Who sent it, e.g. income-engine, make, zapier'),
      ...GroupingFields,
    })
    // `example`, not `examples`: zod leaves `examples` out of the input side of a schema with transforms (it takes them for outputs)
    .meta({
      example: {
        issue_type: 'high_churn',
        severity: 'high',
        description: 'Churn rose to 8% this week',
        metric_value: 0.08,
        affected_items: ['cust_1', 'cust_2'],
        source: 'income-engine',
      },
    })
}
export type OpportunityInput = z.output<ReturnType<typeof opportunityInput>>

/** The opportunity as stored and echoed back: defaults applied, time as ISO-8601. */
export const Opportunity = z
  .object({
    issue_type: z.string(),
    severity: Severity,
    description: z.string(),
    metric_value: z.number(),
    affected_items: z.array(z.string()),
    timestamp: z.string().describe('ISO-8601, UTC'),
    feature_suggestion: z.string().nullable(),
    source: z.string().nullable(),
  })
  .meta({ id: 'Opportunity' })
export type Opportunity = z.infer<typeof Opportunity>
