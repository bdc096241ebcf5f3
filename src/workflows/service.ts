import { v4 as uuidv4 } from 'uuid'
import type { Opportunity, OpportunityInput } from '../contract/opportunity.js'
import type { WorkflowRecord } from '../contract/workflow.js'
import { generate } from '../generate/generate.js'
import { renderPrompt } from '../generate/render.js'
import { BadRequest, NotFound } from '../http/problem.js'
import type { LoadedPlaybook } from '../playbooks/schema.js'
import type { WorkflowStore } from '../store/workflows.js'

export function normalizeOpportunity(input: OpportunityInput, receivedAt: Date): Opportunity {
  const timestamp =
    input.timestamp === undefined
      ? receivedAt
      : typeof input.timestamp === 'number'
        ? new Date(input.timestamp * 1000)
        : new Date(input.timestamp)
  return {
    issue_type: input.issue_type,
    severity: input.severity,
    description: input.description,
    metric_value: input.metric_value,
    affected_items: input.affected_items,
    timestamp: timestamp.toISOString(),
    feature_suggestion: input.feature_suggestion ?? null,
    source: input.source ?? null,
  }
}

/** The use cases behind /issues and /workflows; knows nothing about HTTP beyond its error types. */
export class WorkflowService {
  constructor(
    private readonly playbooks: ReadonlyMap<string, LoadedPlaybook>,
    private readonly store: WorkflowStore,
    private readonly newId: () => string = uuidv4,
  ) {}

  create(input: OpportunityInput, now: Date): WorkflowRecord {
    const playbook = this.playbooks.get(input.issue_type)
    // The route's schema only admits known types; this guards callers that bypass it.
    if (!playbook) throw new BadRequest(`unknown issue_type ${input.issue_type}`, [{ path: 'issue_type', message: 'unknown issue type' }])
    const opportunity = normalizeOpportunity(input, now)
    const id = this.newId()
    const artifacts = generate(opportunity, playbook, id, now)
    const self = `/workflows/${id}`
    const record: WorkflowRecord = {
      workflow_id: id,
      status: 'generated',
      created_at: now.toISOString(),
      opportunity,
      workflow: artifacts.workflow,
      prompt_template: artifacts.promptTemplate,
      files: artifacts.files.map(({ content: _content, ...file }) => file),
      links: { self, preview: `${self}/preview` },
    }
    this.store.insert(record, artifacts.files)
    return record
  }

  get(id: string): WorkflowRecord {
    const record = this.store.get(id)
    if (!record) throw new NotFound(`No workflow ${id}`)
    return record
  }

  renderPrompt(id: string, variables: Record<string, unknown>): { workflow_id: string; name: string; rendered: string } {
    const record = this.get(id)
    const result = renderPrompt(record.prompt_template, variables)
    if (!result.ok) {
      throw new BadRequest(
        `${result.faults.length} template ${result.faults.length === 1 ? 'variable is' : 'variables are'} wrong: ${result.faults.map((f) => f.variable).join(', ')}`,
        result.faults.map((f) => ({ path: `variables.${f.variable}`, in: 'body', message: f.message })),
      )
    }
    return { workflow_id: id, name: record.prompt_template.name, rendered: result.rendered }
  }
}
