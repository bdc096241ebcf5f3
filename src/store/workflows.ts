import type { Opportunity, Severity } from '../contract/opportunity.js'
import {
  type CommitInfo,
  type GeneratedFile,
  type Occurrence,
  type OccurrenceDetail,
  type WorkflowRecord,
  type WorkflowStatus,
  type WorkflowSummary,
} from '../contract/workflow.js'
import type { ArtifactFile, Artifacts } from '../generate/generate.js'
import type { Dialect, SqlDatabase, SqlSession } from './sql.js'
import { selectPage } from './page.js'
import { detectionValues } from '../workflows/occurrence.js'
import { OccurrenceStore, type OccurrenceFacts } from './occurrences.js'

export type { OccurrenceFacts } from './occurrences.js'

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
  last_reported_value: number | null
  highest_severity: Severity | null
  affected_item_count: number
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

function withColumns(record: WorkflowRecord, row: WorkflowRow, recent: Occurrence[], union: string[]): WorkflowRecord {
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
    last_observed: row.last_observed,
    last_reported_value: row.last_reported_value,
    highest_severity: row.highest_severity ?? record.workflow.severity,
    recent,
    affected_items: union,
    affected_item_count: row.affected_item_count,
  }
  return record
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 }

const INSERT_SQL = `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts, inputs, name, group_key, dedup_key, supersedes, last_seen, last_observed, last_reported_value, highest_severity)
  VALUES (?, ?, ?, ?, ?, '', '', ?, ?, ?, ?, ?, ?, ?, ?, ?)`
/** A list's name column: SQLite rows from before migration 11 have none, their record has it; PostgreSQL has no such rows. */
const NAME_COLUMN: Record<Dialect, string> = {
  sqlite: "COALESCE(name, json_extract(record, '$.workflow.name'))",
  postgres: 'name',
}

/** Workflows persisted in the database: the generator's inputs and the files' digests, and the columns lists filter on. */
export class WorkflowStore {
  private readonly occurrenceStore: OccurrenceStore

  constructor(
    private readonly db: SqlDatabase,
    private readonly regenerate: Regenerate,
  ) {
    this.occurrenceStore = new OccurrenceStore(db)
  }

  /**
   * A new workflow, with its first occurrence; when it supersedes an open one, that one is marked
   * in the same write. Only the generator's input and each file's digest are stored: the record
   * and the files are regenerated on read (and checked against these digests).
   */
  async insert(tx: SqlSession, record: WorkflowRecord, group?: GroupFacts): Promise<void> {
    const inputs: StoredInputs = { opportunity: record.opportunity, files: record.files }
    const { severity } = record.workflow
    // without a detection (no group facts) the number is the opportunity's metric_value, an engine's figure
    const values = detectionValues(group?.occurrence.source ?? 'issues', group?.occurrence.value ?? record.opportunity.metric_value)
    await tx.run(INSERT_SQL, [
      record.workflow_id,
      record.workflow.issue_type,
      severity,
      record.status,
      record.created_at,
      JSON.stringify(inputs),
      record.workflow.name,
      group?.groupKey ?? null,
      group?.dedupKey ?? null,
      group?.supersedes ?? null,
      record.created_at,
      values.observed,
      values.reported_value,
      severity,
    ])
    if (!group) return
    await this.occurrenceStore.record(tx, record.workflow_id, group.occurrence)
    if (group.supersedes) {
      await tx.run(`UPDATE workflows SET status = 'superseded', superseded_by = ? WHERE id = ? AND status = 'generated'`, [record.workflow_id, group.supersedes])
    }
  }

  /** The open workflow detections of this group key join: generated, not superseded, created since `since`. */
  findOpen(groupKey: string, since: string): Promise<{ id: string; severity: Severity } | undefined> {
    return this.db.get(`SELECT id, severity FROM workflows WHERE group_key = ? AND status = 'generated' AND created_at >= ? ORDER BY seq DESC LIMIT 1`, [groupKey, since])
  }

  /**
   * Records a later detection as an occurrence of an open workflow. Every occurrence is kept (until
   * retention purges its workflow): each is bounded, so they grow with requests, as audit entries do.
   */
  async addOccurrence(tx: SqlSession, workflowId: string, occurrence: OccurrenceFacts): Promise<void> {
    await this.occurrenceStore.record(tx, workflowId, occurrence)
    const current = await tx.get<{ highest_severity: Severity | null; severity: Severity }>('SELECT highest_severity, severity FROM workflows WHERE id = ?', [workflowId])
    if (!current) return
    const highest = current.highest_severity ?? current.severity
    const values = detectionValues(occurrence.source, occurrence.value)
    // each column follows only its own kind of detection: a POST /issues figure never overwrites a measured value
    const sql = `UPDATE workflows SET occurrence_count = occurrence_count + 1, last_seen = ?,
      last_observed = COALESCE(?, last_observed), last_reported_value = COALESCE(?, last_reported_value), highest_severity = ? WHERE id = ?`
    await tx.run(sql, [
      occurrence.at,
      values.observed,
      values.reported_value,
      SEVERITY_RANK[occurrence.severity] > SEVERITY_RANK[highest] ? occurrence.severity : highest,
      workflowId,
    ])
  }

  /** Which of these items (at most an occurrence's kept ones) the workflow's union holds already. */
  knownItems(workflowId: string, items: readonly string[]): Promise<Set<string>> {
    return this.occurrenceStore.knownItems(workflowId, items)
  }

  /** A page of the workflow's occurrences, newest first, with what each detection said; undefined for no such workflow. */
  async occurrences(workflowId: string, limit: number, beforeSeq: number | undefined): Promise<{ items: OccurrenceDetail[]; next_cursor: string | null } | undefined> {
    if (!(await this.db.get('SELECT 1 AS found FROM workflows WHERE id = ?', [workflowId]))) return undefined
    return this.occurrenceStore.page(workflowId, limit, beforeSeq)
  }

  private async row(db: SqlSession, id: string): Promise<WorkflowRow | undefined> {
    return db.get<WorkflowRow>('SELECT * FROM workflows WHERE id = ?', [id])
  }

  async get(id: string): Promise<WorkflowRecord | undefined> {
    const row = await this.row(this.db, id)
    return row && withColumns(storedRecord(row, this.regenerate, false).record, row, await this.occurrenceStore.recent(row.id), await this.occurrenceStore.union(row.id))
  }

  /** The generated files with their content, as they would be written to the repository. */
  async files(id: string): Promise<ArtifactFile[] | undefined> {
    return (await this.getWithFiles(id))?.files
  }

  /** The record and its files from one read of the row (what a preview or commit needs). */
  async getWithFiles(id: string): Promise<{ record: WorkflowRecord; files: ArtifactFile[] } | undefined> {
    const row = await this.row(this.db, id)
    if (!row) return undefined
    const { record, files } = storedRecord(row, this.regenerate, true)
    return { record: withColumns(record, row, await this.occurrenceStore.recent(row.id), await this.occurrenceStore.union(row.id)), files }
  }

  /** The committed workflow of this type on this branch — the live automation its files are — other than `except`. */
  async live(issueType: string, branch: string, except: string): Promise<{ workflow_id: string; commit_sha: string | null } | null> {
    const row = await this.db.get<{ id: string; commit_sha: string | null }>(
      `SELECT id, commit_sha FROM workflows WHERE issue_type = ? AND status = 'committed' AND commit_branch = ? AND id != ? ORDER BY seq DESC LIMIT 1`,
      [issueType, branch, except],
    )
    return row ? { workflow_id: row.id, commit_sha: row.commit_sha } : null
  }

  /**
   * Marks the workflow committed; the one it replaced at the same paths (same type and branch)
   * becomes superseded. A committed workflow is history, so its record is kept whole from now on
   * (about 6 KB): it stays readable after the playbooks or the generator change. Its files are in
   * the repository.
   */
  markCommitted(id: string, commit: CommitInfo, beforeCommit: () => void = () => undefined): Promise<void> {
    return this.db.transaction(async (tx) => {
      const row = await this.row(tx, id)
      if (!row) return
      if (row.inputs !== null && row.record === '') {
        let record: WorkflowRecord | undefined
        try {
          record = storedRecord(row, this.regenerate, false).record
        } catch {
          record = undefined // no longer reproducible (a commit found after an upgrade): it stays without
        }
        if (record) await tx.run('UPDATE workflows SET record = ? WHERE id = ?', [JSON.stringify(record), id])
      }
      await tx.run(`UPDATE workflows SET status = 'superseded', superseded_by = ? WHERE issue_type = ? AND status = 'committed' AND commit_branch = ? AND id != ?`, [
        id,
        row.issue_type,
        commit.branch,
        id,
      ])
      // A more severe detection may have superseded it while it was being committed: the commit
      // stands (its files are in the repository), so it is not superseded until the newer one is
      // committed — and the newer one no longer says it supersedes it, so the two links agree (both
      // or neither). Committing the newer one replaces it at the same paths, and links it then.
      await tx.run(`UPDATE workflows SET status = 'committed', superseded_by = NULL, commit_sha = ?, commit_branch = ?, committed_at = ? WHERE id = ?`, [
        commit.sha,
        commit.branch,
        commit.committed_at,
        id,
      ])
      await tx.run(`UPDATE workflows SET supersedes = NULL WHERE supersedes = ? AND status = 'generated'`, [id])
      beforeCommit() // last: e.g. that the lock this record is made under is still held
    })
  }

  async list(filter: ListFilter): Promise<{ items: WorkflowSummary[]; next_cursor: string | null }> {
    const { rows, next_cursor } = await selectPage<Pick<WorkflowRow, 'seq' | 'id' | 'name' | 'issue_type' | 'severity' | 'status' | 'created_at' | 'occurrence_count'>>(
      this.db,
      `SELECT seq, id, ${NAME_COLUMN[this.db.dialect]} AS name, issue_type, severity, status, created_at, occurrence_count FROM workflows`,
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
  async countsByType(): Promise<Record<string, number>> {
    const rows = await this.db.all<{ issue_type: string; n: number }>('SELECT issue_type, n FROM workflow_counts WHERE n > 0 ORDER BY issue_type')
    return Object.fromEntries(rows.map((r) => [r.issue_type, r.n]))
  }

  async count(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM workflow_counts'))?.n ?? 0
  }
}
