import { v4 as uuidv4 } from 'uuid'
import type { Opportunity, OpportunityInput, Severity } from '../contract/opportunity.js'
import type { OccurrenceDetail, WorkflowRecord } from '../contract/workflow.js'
import { buildExport, EXPORT_MEDIA_TYPES, type ExportFile } from '../exports/exports.js'
import { PLATFORMS, type Platform } from '../exports/mapping.js'
import { generate, type ArtifactFile, type ExportChoice } from '../generate/generate.js'
import { renderPrompt } from '../generate/render.js'
import { listedFieldErrors, namedList } from '../http/fault-list.js'
import { BadRequest, Conflict, NotFound } from '../http/problem.js'
import type { LoadedPlaybook } from '../playbooks/schema.js'
import type { GroupFacts, OccurrenceFacts, WorkflowStore } from '../store/workflows.js'
import type { SqlSession } from '../store/sql.js'
import { detectionValues, detectionWords, grownUnion, newUnionItems } from './occurrence.js'
import { NotReproducible } from './regenerate.js'

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 }

/** Where a detection comes from and how its writes reach the request's transaction. */
export interface DetectionContext {
  now: Date
  source: OccurrenceFacts['source']
  requestId: string | null
  /** who sent it: the API key's name (never its secret), webhook, or null without keys */
  actor: string | null
  /** receives the write, so the request commits it in its transaction, with its audit entry */
  persist: (write: Write) => void
}

/** A write a request commits in its one transaction. */
export type Write = (tx: SqlSession) => Promise<void>

/** What a detection did: a new workflow, an occurrence of an open one, or a new one replacing an open one of lower severity. */
export type DetectionOutcome = 'created' | 'grouped' | 'superseding'

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

/** A detection's number as a workflow's latest values: the one of its kind replaces, the other kind's is kept. */
function detectionValuesAsLast(source: OccurrenceFacts['source'], value: number, before?: { last_observed: number | null; last_reported_value: number | null }) {
  const { observed, reported_value } = detectionValues(source, value)
  return { last_observed: observed ?? before?.last_observed ?? null, last_reported_value: reported_value ?? before?.last_reported_value ?? null }
}

/**
 * The open workflow as it reads once a further occurrence is recorded (the write itself is
 * deferred); `added`: the occurrence's items its union did not hold yet.
 */
function withOccurrence(open: WorkflowRecord, o: OccurrenceFacts, added: readonly string[]): WorkflowRecord {
  const before = open.occurrences
  const highest = before && SEVERITY_RANK[before.highest_severity] >= SEVERITY_RANK[o.severity] ? before.highest_severity : o.severity
  const union = grownUnion(before?.affected_items ?? [], before?.affected_item_count ?? 0, added)
  return {
    ...open,
    occurrences: {
      count: (before?.count ?? 1) + 1,
      first_seen: before?.first_seen ?? open.created_at,
      last_seen: o.at,
      ...detectionValuesAsLast(o.source, o.value, before),
      highest_severity: highest,
      recent: [{ at: o.at, source: o.source, ...detectionValues(o.source, o.value), severity: o.severity }, ...(before?.recent ?? [])].slice(0, 20),
      affected_items: union.items,
      affected_item_count: union.count,
    },
  }
}

/** The use cases behind /issues and /workflows; knows nothing about HTTP beyond its error types. */
export class WorkflowService {
  private readonly exports: ExportChoice
  private readonly groupWindowMs: number
  private readonly newId: () => string

  constructor(
    private readonly playbooks: ReadonlyMap<string, LoadedPlaybook>,
    private readonly store: WorkflowStore,
    options: { exports: ExportChoice; groupWindowMs: number; newId?: () => string },
  ) {
    this.exports = options.exports
    this.groupWindowMs = options.groupWindowMs
    this.newId = options.newId ?? uuidv4
  }

  /** Whether this detection may join an open workflow (and so needs its group's lock). */
  groups(input: Pick<OpportunityInput, 'group'>): boolean {
    return input.group && this.groupWindowMs > 0
  }

  /** Detections with the same key group together: the issue type, narrowed by a dedup_key. */
  groupKey(input: Pick<OpportunityInput, 'issue_type' | 'dedup_key'>): string {
    // JSON: unambiguous for any dedup_key, and text every database can store (migration 12 re-keyed older rows)
    return JSON.stringify([input.issue_type, input.dedup_key || ''])
  }

  /**
   * A detection (POST /issues, POST /kpis): an occurrence of the open workflow of its group when
   * one is younger than GROUP_WINDOW and at least as severe; otherwise a new workflow, which
   * supersedes the open one when the severity rose. The caller holds the group's lock until the
   * writes are committed (GroupLocks), so concurrent detections cannot both create.
   */
  async detect(input: OpportunityInput, ctx: DetectionContext): Promise<{ record: WorkflowRecord; outcome: DetectionOutcome; why?: string; occurrence: OccurrenceFacts }> {
    const { persist } = ctx
    // what the caller said is kept whichever way the detection goes: grouping never swallows it
    const occurrence: OccurrenceFacts = {
      at: ctx.now.toISOString(),
      source: ctx.source,
      value: input.metric_value,
      severity: input.severity,
      requestId: ctx.requestId,
      actor: ctx.actor,
      ...detectionWords(input),
    }
    const key = this.groupKey(input)
    const open = this.groups(input) ? await this.store.findOpen(key, new Date(ctx.now.getTime() - this.groupWindowMs).toISOString()) : undefined
    if (open && SEVERITY_RANK[input.severity] <= SEVERITY_RANK[open.severity]) {
      const record = await this.reproducible(open.id)
      if (record) {
        // read under the group's lock, which no other detection of the group holds until this one is committed
        const added = newUnionItems(occurrence.affectedItems, await this.store.knownItems(open.id, occurrence.affectedItems))
        persist((tx) => this.store.addOccurrence(tx, open.id, occurrence))
        return { record: withOccurrence(record, occurrence, added), outcome: 'grouped', occurrence }
      }
      // generated by other playbooks or another generator than this instance runs: a new workflow takes its place
    }
    // a workflow made with group: false takes no part in grouping: later detections never join or supersede it
    const group: GroupFacts = { groupKey: input.group ? key : null, dedupKey: input.dedup_key || null, supersedes: open?.id ?? null, occurrence }
    const record = this.create(input, ctx.now, persist, group)
    if (!open) return { record, outcome: 'created', occurrence }
    const rose = SEVERITY_RANK[input.severity] > SEVERITY_RANK[open.severity]
    return { record, outcome: 'superseding', why: rose ? 'the severity rose' : 'its files no longer come out of this generator', occurrence }
  }

  /** Generates the workflow; `persist` receives its write, so a request commits it together with its audit entry. */
  create(input: OpportunityInput, now: Date, persist: (write: Write) => void, group?: GroupFacts): WorkflowRecord {
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
    persist((tx) => this.store.insert(tx, record, group))
    const union = group ? newUnionItems(group.occurrence.affectedItems, new Set()) : []
    return {
      ...record,
      dedup_key: group?.dedupKey ?? null,
      supersedes: group?.supersedes ?? null,
      superseded_by: null,
      occurrences: {
        count: 1,
        first_seen: record.created_at,
        last_seen: record.created_at,
        ...detectionValuesAsLast(group?.occurrence.source ?? 'issues', group?.occurrence.value ?? opportunity.metric_value),
        highest_severity: opportunity.severity,
        recent: group ? [{ at: group.occurrence.at, source: group.occurrence.source, ...detectionValues(group.occurrence.source, group.occurrence.value), severity: group.occurrence.severity }] : [],
        affected_items: union,
        affected_item_count: union.length,
      },
    }
  }

  /**
   * The workflow's record, or undefined when any of its files — exports and test included — no
   * longer comes out of this instance's generator: a detection must not join a workflow that can
   * no longer be previewed or committed.
   */
  private async reproducible(id: string): Promise<WorkflowRecord | undefined> {
    try {
      return (await this.store.getWithFiles(id))?.record
    } catch (err) {
      if (err instanceof NotReproducible) return undefined
      throw err
    }
  }

  /** A page of a workflow's occurrences, newest first, each with what its detection said. */
  async occurrences(id: string, limit: number, beforeSeq: number | undefined): Promise<{ items: OccurrenceDetail[]; next_cursor: string | null }> {
    const page = await this.store.occurrences(id, limit, beforeSeq)
    if (!page) throw new NotFound(`No workflow ${id}`)
    return page
  }

  async get(id: string): Promise<WorkflowRecord> {
    const record = await this.store.get(id)
    if (!record) throw new NotFound(`No workflow ${id}`)
    return record
  }

  /**
   * One platform export of a workflow: the stored file when EXPORT_FORMATS committed it with the
   * workflow (what a commit writes), else built now from the stored workflow — the exporters are pure.
   */
  async exportFile(id: string, format: string): Promise<ExportFile & { committed: boolean }> {
    if (!(PLATFORMS as readonly string[]).includes(format)) {
      throw new NotFound(`No export format ${format}; the formats are ${PLATFORMS.join(', ')}`)
    }
    return this.exportOf(await this.exportable(id), format as Platform)
  }

  /** Every export format of a workflow, with where it is served and whether it is committed with it. */
  async listExports(id: string) {
    const found = await this.exportable(id) // regenerated and checked once for all the formats
    return PLATFORMS.map((format) => {
      const file = this.exportOf(found, format)
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

  private async exportable(id: string): Promise<{ record: WorkflowRecord; files: ArtifactFile[] }> {
    const found = await this.store.getWithFiles(id)
    if (!found) throw new NotFound(`No workflow ${id}`)
    if (found.record.workflow.settings === undefined) {
      throw new Conflict(
        'Workflow predates exports',
        `Workflow ${id} was generated before steps declared their data flow, so it cannot be exported; send its opportunity again to generate an exportable workflow`,
        'export-unavailable',
      )
    }
    return found
  }

  private exportOf({ record, files }: { record: WorkflowRecord; files: ArtifactFile[] }, format: Platform): ExportFile & { committed: boolean } {
    const built = buildExport(format, record.workflow, record.prompt_template, this.exports.mappings)
    const stored = files.find((f) => f.kind === format)
    return stored ? { ...built, content: stored.content, committed: true } : { ...built, committed: false }
  }

  async renderPrompt(id: string, variables: Record<string, unknown>): Promise<{ workflow_id: string; name: string; system: string; rendered: string }> {
    const record = await this.get(id)
    const result = renderPrompt(record.prompt_template, variables)
    if (!result.ok) {
      const { faults } = result
      const { errors, count } = listedFieldErrors(faults, (f) => ({ path: `variables.${f.variable}`, in: 'body', message: f.message }))
      throw new BadRequest(`${count} template ${count === 1 ? 'variable is' : 'variables are'} wrong: ${namedList(faults.map((f) => f.variable))}`, errors, count)
    }
    return { workflow_id: id, name: record.prompt_template.name, system: result.system, rendered: result.rendered }
  }
}
