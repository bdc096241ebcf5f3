import type { Opportunity } from '../contract/opportunity.js'
import type { PromptTemplate, Workflow } from '../contract/workflow.js'
import { fieldReferences } from '../playbooks/data-flow.js'
import type { JsonValue, LoadedPlaybook } from '../playbooks/schema.js'
import { SEVERITY_PROFILES } from './severity.js'

/** The values a playbook's `"$name"` placeholders stand for, for one opportunity. */
export function placeholderValues(opportunity: Opportunity): Record<string, JsonValue> {
  const profile = SEVERITY_PROFILES[opportunity.severity]
  return {
    $metric_value: opportunity.metric_value,
    $severity: opportunity.severity,
    $urgency: profile.urgency,
    $discount: profile.discount,
    $priority: profile.priority,
    $max_attempts: profile.max_attempts,
    $affected_items: opportunity.affected_items,
    $affected_count: opportunity.affected_items.length,
  }
}

/** JSON Pointer (RFC 6901) of a path. */
const pointer = (path: readonly string[]) => path.map((key) => `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')

/** The value with its `"$placeholder"`s filled; `filled` records where each one was (JSON Pointer → placeholder). */
function fill(value: JsonValue, values: Record<string, JsonValue>, filled: Record<string, string> = {}, path: string[] = []): JsonValue {
  if (typeof value === 'string') {
    if (!Object.hasOwn(values, value)) return value
    filled[pointer(path)] = value
    return values[value] as JsonValue
  }
  if (Array.isArray(value)) return value.map((v, i) => fill(v, values, filled, [...path, String(i)]))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, values, filled, [...path, k])]))
  }
  return value
}

function breaches(observed: number, operator: '>' | '<', threshold: number): boolean {
  return operator === '>' ? observed > threshold : observed < threshold
}

/** PURE: the workflow definition for one opportunity. */
export function buildWorkflow(opportunity: Opportunity, playbook: LoadedPlaybook, id: string, now: Date): Workflow {
  const values = placeholderValues(opportunity)
  return {
    workflow_id: id,
    name: playbook.name,
    issue_type: playbook.issueType,
    severity: opportunity.severity,
    trigger: playbook.trigger,
    description: opportunity.description,
    detection: {
      ...playbook.detection,
      observed: opportunity.metric_value,
      breached: breaches(opportunity.metric_value, playbook.detection.operator, playbook.detection.threshold),
    },
    approach: playbook.approach,
    generated_at: now.toISOString(),
    settings: Object.fromEntries(
      Object.entries(playbook.settings).map(([name, setting]) => [name, { value: fill(setting.default, values), description: setting.description }]),
    ),
    steps: playbook.steps.map((step, index) => {
      const filled: Record<string, string> = {}
      return {
        id: index + 1,
        action: step.action,
        description: step.description,
        config: fill(step.config, values, filled) as Record<string, JsonValue>,
        reads: fieldReferences(step.config),
        ...(step.produces && { produces: { list: step.produces.list, fields: [...step.produces.fields] } }),
        ...(Object.keys(filled).length > 0 && { placeholders: filled }),
      }
    }),
    success_metrics: { ...playbook.success_metrics },
    prompt_template: playbook.prompt.name,
  }
}

export function buildPromptTemplate(playbook: LoadedPlaybook): PromptTemplate {
  return { name: playbook.prompt.name, template: playbook.promptTemplate, variables: { ...playbook.prompt.variables } }
}
