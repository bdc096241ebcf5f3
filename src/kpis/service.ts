import type { KpiSnapshot } from '../contract/kpis.js'
import type { OpportunityInput } from '../contract/opportunity.js'
import type { DetectionContext, DetectionOutcome, WorkflowService } from '../workflows/service.js'
import type { WorkflowRecord } from '../contract/workflow.js'
import type { OccurrenceFacts } from '../store/workflows.js'
import { evaluate, type DetectionRule, type Evaluation } from './rules.js'

export interface KpiOutcome {
  evaluations: Evaluation[]
  detections: { record: WorkflowRecord; outcome: DetectionOutcome; occurrence: OccurrenceFacts }[]
}

/** PURE: every rule whose metric the snapshot carries, evaluated; and the detections the breaches make. */
export function evaluateSnapshot(snapshot: KpiSnapshot, rules: readonly DetectionRule[]): { evaluations: Evaluation[]; detections: OpportunityInput[] } {
  const evaluations: Evaluation[] = []
  const detections: OpportunityInput[] = []
  for (const rule of rules) {
    const observed = snapshot.metrics[rule.metric]
    if (typeof observed !== 'number') continue
    const evaluation = evaluate(rule, observed)
    evaluations.push(evaluation)
    if (!evaluation.breached || evaluation.severity === null) continue
    detections.push({
      issue_type: rule.issue_type,
      severity: evaluation.severity,
      description: `${rule.metric} ${observed} ${rule.operator} ${rule.threshold} (threshold from ${rule.source})${snapshot.period ? ` for ${snapshot.period}` : ''}`,
      metric_value: observed,
      affected_items: snapshot.affected_items?.[rule.metric] ?? [],
      timestamp: snapshot.timestamp,
      source: snapshot.source ?? 'kpis',
      dedup_key: snapshot.dedup_key,
      group: snapshot.group,
    })
  }
  return { evaluations, detections }
}

/** POST /kpis: each breach of an evaluated snapshot becomes a detection — a new workflow or an occurrence of an open one. */
export async function applySnapshot(evaluated: ReturnType<typeof evaluateSnapshot>, workflows: WorkflowService, ctx: DetectionContext): Promise<KpiOutcome> {
  const detections: KpiOutcome['detections'] = []
  // in rule order, so the answer lists them as the rules are listed
  for (const input of evaluated.detections) detections.push(await workflows.detect(input, ctx))
  return { evaluations: evaluated.evaluations, detections }
}
