import type { Opportunity, Severity } from '../contract/opportunity.js'
import type { CommitInfo, GeneratedFile, Occurrence, WorkflowRecord, WorkflowStatus, WorkflowSummary } from '../contract/workflow.js'
import type { ArtifactFile, Artifacts } from '../generate/generate.js'
import type { Db } from './database.js'
import { selectPage } from './page.js'

interface WorkflowRow {
  seq: number
  id: string
  /** rows made before migration 11: the record and the files; '' since */
  record: string
  artifacts: string
  /** since migration 11: StoredInputs as JSON */
  inputs: string | null
  name: string | null
  issue_type: string
  severity: Severity
  status: WorkflowStatus
  commit_sha: string | null
  commit_branch: string | null
  committed_at: string | null
  created_at: string
  dedup_key: string | null
  superseded_by: string | null
  supersedes: string | null
  occurrence_count: number
  last_seen: string | null
  last_observed: number | null
  highest_severity: Severity | null
}

/** One detection a workflow stands for: the one that created it, or a later one grouped into it. */
export interface OccurrenceFacts {
  at: string
  source: 'issues' | 'kpis'
  observed: number
  severity: Severity
  requestId: string | null
}

/** Where a new workflow sits among grouped detections. */
export interface GroupFacts {
  /** null: made with group: false, so it never takes occurrences */
  groupKey: string | null
  dedupKey: string | null
  supersedes: string | null
  occurrence: OccurrenceFacts
}

/** What a row keeps instead of the files: the generator's input and what each file must hash to. */
export interface StoredInputs {
  opportunity: Opportunity
  files: GeneratedFile[]
}

/** What regenerating a stored workflow needs; `files: false` asks for the workflow and prompt template only. */
export interface Regeneration {
  id: string
  createdAt: string
  opportunity: Opportunity
  files: readonly GeneratedFile[]
  withFiles: boolean
}

/**
 * Rebuilds a workflow from its stored inputs with the pure generator and checks the result
 * against the digests announced when it was created (see src/workflows/regenerate.ts).
 */
export type Regenerate = (input: Regeneration) => Artifacts

const RECENT_OCCURRENCES = 20
/** Occurrence rows kept per workflow: the count goes on, the table does not grow without bound. */
export const KEPT_OCCURRENCES = 100

export interface ListFilter {
  issueType?: string | undefined
  status?: WorkflowStatus | undefined
  minOccurrences?: number | undefined
  limit: number
  /** list rows older than this sequence number */
  beforeSeq?: number | undefined
}

/** The stored part of a record: kept whole before migration 11, regenerated from the inputs since. */
function storedRecord(row: WorkflowRow, regenerate: Regenerate, withFiles: boolean): { record: WorkflowRecord; files: ArtifactFile[] } {
  if (row.inputs === null) {
    return { record: JSON.parse(row.record) as WorkflowRecord, files: withFiles ? (JSON.parse(row.artifacts) as ArtifactFile[]) : [] }
  }
  const inputs = JSON.parse(row.inputs) as StoredInputs
  // a committed workflow keeps its record (see markCommitted): it is read without the generator
  const kept = row.record === '' ? undefined : (JSON.parse(row.record) as WorkflowRecord)
  if (kept && !withFiles) return { record: kept, files: [] }
  const made = regenerate({ id: row.id, createdAt: row.created_at, opportunity: inputs.opportunity, files: inputs.files, withFiles })
  if (kept) return { record: kept, files: made.files }
  const self = `/workflows/${row.id}`
  const record = {
    workflow_id: row.id,
    status: row.status,
    created_at: row.created_at,
    opportunity: inputs.opportunity,
    workflow: made.workflow,
    prompt_template: made.promptTemplate,
    files: inputs.files,
    links: { self, preview: `${self}/preview`, exports: `${self}/exports` },
  }
  return { record, files: withFiles ? made.files : [] }
}

function withColumns(record: WorkflowRecord, row: WorkflowRow, recent: Occurrence[]): WorkflowRecord {
  record.status = row.status
  if (row.commit_sha && row.commit_branch && row.committed_at) {
    record.commit = { sha: row.commit_sha, branch: row.commit_branch, committed_at: row.committed_at }
  }
  record.dedup_key = row.dedup_key
  record.supersedes = row.supersedes
  record.superseded_by = row.superseded_by
  record.occurrences = {
    count: row.occurrence_count,
    first_seen: row.created_at,
    last_seen: row.last_seen ?? row.created_at,
    last_observed: row.last_observed ?? record.opportunity.metric_value,
    highest_severity: row.highest_severity ?? record.workflow.severity,
    recent,
  }
  return record
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 }

/** Workflows persisted in SQLite: the record as answered, plus the files' content for git. */
export class WorkflowStore {
  private readonly insertStmt
  private readonly getStmt

  private readonly insertOccurrenceStmt
  private readonly recentStmt

  constructor(
    private readonly db: Db,
    private readonly regenerate: Regenerate,
  ) {
    this.insertStmt = db.prepare(
      `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts, inputs, name, group_key, dedup_key, supersedes, last_seen, last_observed, highest_severity)
       VALUES (@id, @issue_type, @severity, @status, @created_at, '', '', @inputs, @name, @group_key, @dedup_key, @supersedes, @created_at, @observed, @severity)`,
    )
    this.getStmt = db.prepare('SELECT * FROM workflows WHERE id = ?')
    this.insertOccurrenceStmt = db.prepare(
      'INSERT INTO occurrences (workflow_id, at, source, observed, severity, request_id) VALUES (@workflow_id, @at, @source, @observed, @severity, @request_id)',
    )
    this.recentStmt = db.prepare(`SELECT at, source, observed, severity FROM occurrences WHERE workflow_id = ? ORDER BY seq DESC LIMIT ${RECENT_OCCURRENCES}`)
  }

  /**
   * A new workflow, with its first occurrence; when it supersedes an open one, that one is marked
   * in the same write. Only the generator's input and each file's digest are stored: the record
   * and the files are regenerated on read (and checked against these digests).
   */
  insert(record: WorkflowRecord, group?: GroupFacts): void {
    const inputs: StoredInputs = { opportunity: record.opportunity, files: record.files }
    this.insertStmt.run({
      id: record.workflow_id,
      issue_type: record.workflow.issue_type,
      severity: record.workflow.severity,
      status: record.status,
      created_at: record.created_at,
      inputs: JSON.stringify(inputs),
      name: record.workflow.name,
      group_key: group?.groupKey ?? null,
      dedup_key: group?.dedupKey ?? null,
      supersedes: group?.supersedes ?? null,
      observed: record.opportunity.metric_value,
    })
    if (!group) return
    this.insertOccurrenceStmt.run({ workflow_id: record.workflow_id, ...this.occurrenceParams(group.occurrence) })
    if (group.supersedes) {
      this.db.prepare(`UPDATE workflows SET status = 'superseded', superseded_by = ? WHERE id = ? AND status = 'generated'`).run(record.workflow_id, group.supersedes)
    }
  }

  /** The open workflow detections of this group key join: generated, not superseded, created since `since`. */
  findOpen(groupKey: string, since: string): { id: string; severity: Severity } | undefined {
    return this.db
      .prepare(`SELECT id, severity FROM workflows WHERE group_key = ? AND status = 'generated' AND created_at >= ? ORDER BY seq DESC LIMIT 1`)
      .get(groupKey, since) as { id: string; severity: Severity } | undefined
  }

  /** Records a later detection as an occurrence of an open workflow. */
  addOccurrence(workflowId: string, occurrence: OccurrenceFacts): void {
    this.insertOccurrenceStmt.run({ workflow_id: workflowId, ...this.occurrenceParams(occurrence) })
    this.db
      .prepare(`DELETE FROM occurrences WHERE workflow_id = ? AND seq <= (SELECT seq FROM occurrences WHERE workflow_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ${KEPT_OCCURRENCES})`)
      .run(workflowId, workflowId)
    const current = this.db.prepare('SELECT highest_severity, severity FROM workflows WHERE id = ?').get(workflowId) as { highest_severity: Severity | null; severity: Severity }
    const highest = current.highest_severity ?? current.severity
    this.db
      .prepare('UPDATE workflows SET occurrence_count = occurrence_count + 1, last_seen = ?, last_observed = ?, highest_severity = ? WHERE id = ?')
      .run(occurrence.at, occurrence.observed, SEVERITY_RANK[occurrence.severity] > SEVERITY_RANK[highest] ? occurrence.severity : highest, workflowId)
  }

  private occurrenceParams(o: OccurrenceFacts) {
    return { at: o.at, source: o.source, observed: o.observed, severity: o.severity, request_id: o.requestId }
  }

  private withRecent(row: WorkflowRow): WorkflowRecord {
    return withColumns(storedRecord(row, this.regenerate, false).record, row, this.recentStmt.all(row.id) as Occurrence[])
  }

  get(id: string): WorkflowRecord | undefined {
    const row = this.getStmt.get(id) as WorkflowRow | undefined
    return row && this.withRecent(row)
  }

  /** The generated files with their content, as they would be written to the repository. */
  files(id: string): ArtifactFile[] | undefined {
    return this.getWithFiles(id)?.files
  }

  /** The record and its files from one read of the row (what a preview or commit needs). */
  getWithFiles(id: string): { record: WorkflowRecord; files: ArtifactFile[] } | undefined {
    const row = this.getStmt.get(id) as WorkflowRow | undefined
    if (!row) return undefined
    const { record, files } = storedRecord(row, this.regenerate, true)
    return { record: withColumns(record, row, this.recentStmt.all(row.id) as Occurrence[]), files }
  }

  /** The committed workflow of this type on this branch — the live automation its files are — other than `except`. */
  live(issueType: string, branch: string, except: string): { workflow_id: string; commit_sha: string | null } | null {
    const row = this.db
      .prepare(`SELECT id, commit_sha FROM workflows WHERE issue_type = ? AND status = 'committed' AND commit_branch = ? AND id != ? ORDER BY seq DESC LIMIT 1`)
      .get(issueType, branch, except) as { id: string; commit_sha: string | null } | undefined
    return row ? { workflow_id: row.id, commit_sha: row.commit_sha } : null
  }

  /**
   * Marks the workflow committed; the one it replaced at the same paths (same type and branch)
   * becomes superseded. A committed workflow is history, so its record is kept whole from now on
   * (about 6 KB): it stays readable after the playbooks or the generator change. Its files are in
   * the repository.
   */
  markCommitted(id: string, commit: CommitInfo): void {
    this.db.transaction(() => {
      const row = this.getStmt.get(id) as WorkflowRow | undefined
      if (row && row.inputs !== null && row.record === '') {
        let record: WorkflowRecord | undefined
        try {
          record = storedRecord(row, this.regenerate, false).record
        } catch {
          record = undefined // no longer reproducible (a commit found after an upgrade): it stays without
        }
        if (record) this.db.prepare('UPDATE workflows SET record = ? WHERE id = ?').run(JSON.stringify(record), id)
      }
      const issueType = this.db.prepare('SELECT issue_type FROM workflows WHERE id = ?').pluck().get(id) as string | undefined
      this.db
        .prepare(`UPDATE workflows SET status = 'superseded', superseded_by = ? WHERE issue_type = ? AND status = 'committed' AND commit_branch = ? AND id != ?`)
        .run(id, issueType, commit.branch, id)
      this.db
        .prepare(`UPDATE workflows SET status = 'committed', commit_sha = ?, commit_branch = ?, committed_at = ? WHERE id = ?`)
        .run(commit.sha, commit.branch, commit.committed_at, id)
    })()
  }

  list(filter: ListFilter): { items: WorkflowSummary[]; next_cursor: string | null } {
    const { rows, next_cursor } = selectPage<Pick<WorkflowRow, 'seq' | 'id' | 'name' | 'issue_type' | 'severity' | 'status' | 'created_at' | 'occurrence_count'>>(
      this.db,
      // rows from before migration 11 have no name column value: their record has it
      `SELECT seq, id, COALESCE(name, json_extract(record, '$.workflow.name')) AS name, issue_type, severity, status, created_at, occurrence_count FROM workflows`,
      [
        ['issue_type', '=', filter.issueType],
        ['status', '=', filter.status],
        ['occurrence_count', '>=', filter.minOccurrences],
      ],
      filter.limit,
      filter.beforeSeq,
    )
    return {
      // from the columns alone: a page of summaries parses no record and regenerates nothing
      items: rows.map((row) => ({
        workflow_id: row.id,
        name: row.name ?? row.issue_type,
        issue_type: row.issue_type,
        severity: row.severity,
        status: row.status,
        created_at: row.created_at,
        occurrence_count: row.occurrence_count,
        links: { self: `/workflows/${row.id}`, preview: `/workflows/${row.id}/preview` },
      })),
      next_cursor,
    }
  }

  /** From workflow_counts, which triggers keep in step with every insert and delete: O(types), not O(rows). */
  countsByType(): Record<string, number> {
    const rows = this.db.prepare('SELECT issue_type, n FROM workflow_counts WHERE n > 0 ORDER BY issue_type').all() as { issue_type: string; n: number }[]
    return Object.fromEntries(rows.map((r) => [r.issue_type, r.n]))
  }

  count(): number {
    return this.db.prepare('SELECT COALESCE(SUM(n), 0) FROM workflow_counts').pluck().get() as number
  }
}
