import { z } from 'zod'
import type { DetectionRule } from '../kpis/rules.js'
import { decimalNumber } from './numbers.js'
import { DetectionTimestamp, GroupingFields, MAX_AFFECTED_ITEMS, Severity } from './opportunity.js'

/** How to say a metric's value, for the 400 that names a value outside its range. */
function rangeHint(rule: Pick<DetectionRule, 'metric' | 'range'>): string {
  const [min, max] = rule.range
  if (min === 0 && max === 1) return `${rule.metric} is a fraction between 0 and 1: send 0.08 for 8%`
  return `${rule.metric} is a fraction between ${min} and ${max}: send -0.18 for a drop of 18%, 0.05 for a rise of 5%`
}

/** One metric of a snapshot: a number or a decimal string, as metric_value on POST /issues. */
function metricValue(rule: Pick<DetectionRule, 'metric' | 'range'>) {
  return decimalNumber(rule.metric, `${rule.metric} must be a number: ${rangeHint(rule)}`)
    .optional()
    .describe(`${rangeHint(rule)} (a decimal string such as "0.08" too)`)
}

/**
 * The body of POST /kpis, built from the rules in force: every playbook's metric is an optional
 * number, so a seventh playbook adds its KPI here (and in the OpenAPI document) with no code change.
 */
export function kpiSnapshotInput(rules: readonly DetectionRule[]) {
  const byMetric = new Map(rules.map((r) => [r.metric, r]))
  const metricNames = [...byMetric.keys()] as [string, ...string[]]
  const metrics = z
    .strictObject(Object.fromEntries(rules.map((rule) => [rule.metric, metricValue(rule)])))
    .superRefine((values, ctx) => {
      for (const [metric, value] of Object.entries(values)) {
        const rule = byMetric.get(metric)
        if (rule === undefined || typeof value !== 'number') continue
        if (value < rule.range[0] || value > rule.range[1]) ctx.addIssue({ code: 'custom', path: [metric], message: `${value} is outside [${rule.range[0]}, ${rule.range[1]}]; ${rangeHint(rule)}` })
      }
      if (Object.keys(values).length === 0) ctx.addIssue({ code: 'custom', message: `send at least one metric: ${metricNames.join(', ')}` })
    })
    .describe(`Any subset of ${metricNames.join(', ')}; rates are fractions (0.08 = 8%)`)
  return z
    .object({
      period: z.string().max(100).optional().describe('What the snapshot covers, e.g. 2026-11-26T10:00Z/PT1H or "last 24h"'),
      source: z.string().max(100).optional().describe('Who sent it, e.g. make, zapier, income-engine'),
      timestamp: DetectionTimestamp,
      metrics,
      affected_items: z
        .partialRecord(z.enum(metricNames), z.array(z.string().min(1).max(256)).max(MAX_AFFECTED_ITEMS))
        .optional()
        .describe('Per metric, the items it concerns (customer ids for churn_rate, cart ids for cart_abandonment_rate, …)'),
      ...GroupingFields,
    })
    // `example`, not `examples`: zod leaves `examples` out of the input side of a schema with transforms
    .meta({
      example: { period: 'last 24h', source: 'make', metrics: { churn_rate: 0.08, error_rate: 0.004 }, affected_items: { churn_rate: ['cust_1', 'cust_2'] } },
    })
}
export type KpiSnapshot = z.output<ReturnType<typeof kpiSnapshotInput>>

export const Evaluation = z
  .object({
    issue_type: z.string(),
    metric: z.string(),
    observed: z.number(),
    operator: z.enum(['>', '<']),
    threshold: z.number(),
    breached: z.boolean(),
    severity: Severity.nullable().describe('From the playbook severity bands; null when not breached'),
    margin: z.number().describe('How far beyond the threshold, in the breach direction; negative when not breached'),
  })
  .meta({ id: 'Evaluation' })

export const KpiWorkflow = z
  .object({
    workflow_id: z.uuid(),
    issue_type: z.string(),
    severity: Severity,
    status: z.string(),
    outcome: z.enum(['created', 'grouped', 'superseding']).describe('created: a new workflow; grouped: an occurrence of the open one; superseding: new, replacing a less severe open one (or one whose files no longer reproduce)'),
    grouped: z.boolean(),
    occurrences: z.number().int(),
    supersedes: z.uuid().nullable(),
    links: z.object({ self: z.string(), preview: z.string(), exports: z.string().optional() }),
  })
  .meta({ id: 'KpiWorkflow' })

export const KpiResult = z
  .object({ evaluations: z.array(Evaluation), workflows: z.array(KpiWorkflow) })
  .meta({ id: 'KpiResult' })

export const ThresholdList = z
  .object({
    rules: z.array(
      z.object({
        issue_type: z.string(),
        metric: z.string(),
        operator: z.enum(['>', '<']),
        threshold: z.number(),
        source: z.enum(['playbook', 'THRESHOLDS', 'THRESHOLDS_FILE']).describe('Where the threshold in force comes from'),
        range: z.array(z.number()).length(2).describe('[min, max] the metric can take'),
        severity_bands: z.record(z.string(), z.number()),
      }),
    ),
  })
  .meta({ id: 'ThresholdList' })
