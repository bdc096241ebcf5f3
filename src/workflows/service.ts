import { v4 as uuidv4 } from 'uuid'
import type { Opportunity, OpportunityInput } from '../contract/opportunity.js'
import type { WorkflowRecord } from '../contract/workflow.js'
import { buildExport, EXPORT_MEDIA_TYPES, type ExportFile } from '../exports/exports.js'
import { PLATFORMS, type Platform } from '../exports/mapping.js'
import { generate, type ExportChoice } from '../generate/generate.js'
import { renderPrompt } from '../generate/render.js'
import { BadRequest, Conflict, NotFound } from '../http/problem.js'
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
    private readonly exports: ExportChoice,
    private readonly newId: () => string = uuidv4,
  ) {}

  /**
   * Generates the workflow; `persist` receives its write, so a request can commit it together with
   * its audit entry (the default writes at once).
   */
  create(input: OpportunityInput, now: Date, persist: (write: () => void) => void = (write) => write()): WorkflowRecord {
    const playbook = this.playbooks.get(input.issue_type)
    // The route's schema only admits known types; this guards callers that bypass it.
    if (!playbook) throw new BadRequest(`unknown issue_type ${input.issue_type}`, [{ path: 'issue_type', message: 'unknown issue type' }])
    const opportunity = normalizeOpportunity(input, now)
    const id = this.newId()
    const artifacts = generate(opportunity, playbook, id, now, this.exports)
    const self = `/workflows/${id}`
    const record: WorkflowRecord = {
      workflow_id: id,
      status: 'generated',
      created_at: now.toISOString(),
      opportunity,
      workflow: artifacts.workflow,
      prompt_template: artifacts.promptTemplate,
      files: artifacts.files.map(({ content: _content, ...file }) => file),
      links: { self, preview: `${self}/preview`, exports: `${self}/exports` },
    }
    persist(() => this.store.insert(record, artifacts.files))
    return record
  }

  get(id: string): WorkflowRecord {
    const record = this.store.get(id)
    if (!record) throw new NotFound(`No workflow ${id}`)
    return record
  }

  /**
   * One platform export of a workflow: the stored file when EXPORT_FORMATS committed it with the
   * workflow (what a commit writes), else built now from the stored workflow — the exporters are pure.
   */
  exportFile(id: string, format: string): ExportFile & { committed: boolean } {
    if (!(PLATFORMS as readonly string[]).includes(format)) {
      throw new NotFound(`No export format ${format}; the formats are ${PLATFORMS.join(', ')}`)
    }
    const found = this.store.getWithFiles(id)
    if (!found) throw new NotFound(`No workflow ${id}`)
    const { record, files } = found
    if (record.workflow.settings === undefined) {
      throw new Conflict(
        'Workflow predates exports',
        `Workflow ${id} was generated before steps declared their data flow, so it cannot be exported; send its opportunity again to generate an exportable workflow`,
        'export-unavailable',
      )
    }
    const built = buildExport(format as Platform, record.workflow, record.prompt_template, this.exports.mappings)
    const stored = files.find((f) => f.kind === format)
    return stored ? { ...built, content: stored.content, committed: true } : { ...built, committed: false }
  }

  /** Every export format of a workflow, with where it is served and whether it is committed with it. */
  listExports(id: string) {
    return PLATFORMS.map((format) => {
      const file = this.exportFile(id, format)
      return {
        format,
        filename: file.path.slice(file.path.lastIndexOf('/') + 1),
        media_type: EXPORT_MEDIA_TYPES[format],
        href: `/workflows/${id}/exports/${format}`,
        path: file.path,
        committed_with_workflow: file.committed,
        setup: file.setup.map((item) => item.text),
      }
    })
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
