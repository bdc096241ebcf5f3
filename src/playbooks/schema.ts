import { z } from 'zod'

/**
 * The shape of `templates/<issue_type>/playbook.json`. Playbooks are data: adding an
 * opportunity type means adding a folder that satisfies this schema, nothing else.
 */

/** The closed set of step actions every playbook draws from, so exporters map a fixed list. */
export const STEP_ACTIONS = [
  'query_database',
  'segment_customers',
  'compute_offer',
  'generate_ai_message',
  'send_email',
  'send_sms',
  'retry_payment',
  'notify_ops',
  'rollback_release',
  'issue_credit',
  'create_ab_test',
  'wait',
  'track_metric',
] as const
export const StepAction = z.enum(STEP_ACTIONS)
export type StepAction = z.infer<typeof StepAction>

export const VariableType = z.enum(['string', 'int', 'float'])
export type VariableType = z.infer<typeof VariableType>

/** A JSON value; step configs are free-form but must stay JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
// For OpenAPI: the id makes this recursive schema a component (unnamed, it became an unresolvable "__shared" ref),
// and null rides on the string branch because OpenAPI 3.0 only honours `nullable` beside a `type`.
export const JsonValue: z.ZodType<JsonValue> = z
  .lazy(() => z.union([z.string().nullable(), z.number(), z.boolean(), z.array(JsonValue), z.record(z.string(), JsonValue)]))
  .meta({ id: 'JsonValue', description: 'Any JSON value' })

const snakeName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case ([a-z][a-z0-9_]*)')

/** What a step hands to later steps: field names, on one item or on each of a list of items. */
export const StepOutput = z.strictObject({
  list: z.boolean().default(false).describe('true: the step turns one item into many (a query), and later steps run once per item'),
  fields: z.array(snakeName).min(1),
})
export type StepOutput = z.infer<typeof StepOutput>

export const PlaybookStep = z.strictObject({
  action: StepAction,
  description: z.string().min(1),
  /**
   * Values may be placeholders that the generator fills from the opportunity:
   * a string that is exactly "$metric_value", "$severity", "$urgency", "$discount", "$priority",
   * "$max_attempts", "$affected_items" or "$affected_count" becomes that typed value.
   * A `{{field}}` inside a string reads a field of the opportunity, a setting or an earlier
   * step's output (src/playbooks/data-flow.ts checks that it exists); exports wire it up.
   */
  config: z.record(z.string(), JsonValue),
  produces: StepOutput.optional(),
})
export type PlaybookStep = z.infer<typeof PlaybookStep>

/** A value the user sets on the platform (a sender address, a table, a base URL), with a default. */
export const SettingDeclaration = z.strictObject({
  description: z.string().min(1),
  /** may be a "$placeholder" (e.g. "$discount"): the generator fills it per opportunity */
  default: JsonValue,
})

export const Playbook = z.strictObject({
  name: z.string().min(1).max(120),
  trigger: snakeName,
  detection: z
    .strictObject({
      metric: snakeName,
      operator: z.enum(['>', '<']),
      threshold: z.number(),
      description: z.string().min(1),
      /** the values the metric can take, e.g. [0, 1] for a rate (a fraction): POST /kpis refuses others */
      range: z.tuple([z.number(), z.number()]).default([0, 1]),
      /**
       * where each severity starts, in the breach direction: churn {medium: 0.05, high: 0.075,
       * critical: 0.1} makes 5–7.5% medium, 7.5–10% high and above 10% critical; none: every breach is medium
       */
      severity_bands: z.partialRecord(z.enum(['low', 'medium', 'high', 'critical']), z.number()).default({}),
    })
    .check((ctx) => {
      const d = ctx.value
      const [min, max] = d.range
      if (!(min < max)) ctx.issues.push({ code: 'custom', message: 'range must be [min, max] with min < max', input: d.range, path: ['range'] })
      if (d.threshold < min || d.threshold > max) ctx.issues.push({ code: 'custom', message: `threshold ${d.threshold} lies outside range [${min}, ${max}]`, input: d.threshold, path: ['threshold'] })
      const starts = (['low', 'medium', 'high', 'critical'] as const).flatMap((s) => (d.severity_bands[s] === undefined ? [] : [d.severity_bands[s]]))
      const ordered = starts.every((v, i) => i === 0 || (d.operator === '>' ? v > (starts[i - 1] as number) : v < (starts[i - 1] as number)))
      if (!ordered) ctx.issues.push({ code: 'custom', message: `severity_bands must start further in the breach direction (${d.operator}) as severity rises`, input: d.severity_bands, path: ['severity_bands'] })
    }),
  approach: z.string().min(1),
  /** Every value a user must set on the platform; steps read them as `{{name}}` fields. */
  settings: z.record(snakeName, SettingDeclaration).default({}),
  steps: z.array(PlaybookStep).min(4).max(5),
  /** Targets are fractions (0.25 = +25%) — the generated test checks they lie in 0..1. */
  success_metrics: z.record(snakeName, z.number().min(0).max(1)).refine((m) => Object.keys(m).length > 0, 'needs at least one metric'),
  prompt: z.strictObject({
    name: snakeName,
    variables: z.record(snakeName, VariableType).refine((v) => Object.keys(v).length > 0, 'needs at least one variable'),
  }),
})
export type PlaybookFile = z.infer<typeof Playbook>

/** A loaded playbook: the file's data plus its issue type (the folder name) and prompt text. */
export interface LoadedPlaybook extends PlaybookFile {
  issueType: string
  promptTemplate: string
}
