import type { Severity } from '../contract/opportunity.js'
import type { CommitInfo, Occurrence, WorkflowRecord, WorkflowStatus, WorkflowSummary } from '../contract/workflow.js'
import type { ArtifactFile } from '../generate/generate.js'
import type { Db } from './database.js'
import { selectPage } from './page.js'

interface WorkflowRow {
  seq: number
  id: string
  record: string
  artifacts: string
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

function toRecord(row: WorkflowRow, recent: Occurrence[] = []): WorkflowRecord {
  const record = JSON.parse(row.record) as WorkflowRecord
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

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts, group_key, dedup_key, supersedes, last_seen, last_observed, highest_severity)
       VALUES (@id, @issue_type, @severity, @status, @created_at, @record, @artifacts, @group_key, @dedup_key, @supersedes, @created_at, @observed, @severity)`,
    )
    this.getStmt = db.prepare('SELECT * FROM workflows WHERE id = ?')
    this.insertOccurrenceStmt = db.prepare(
      'INSERT INTO occurrences (workflow_id, at, source, observed, severity, request_id) VALUES (@workflow_id, @at, @source, @observed, @severity, @request_id)',
    )
    this.recentStmt = db.prepare(`SELECT at, source, observed, severity FROM occurrences WHERE workflow_id = ? ORDER BY seq DESC LIMIT ${RECENT_OCCURRENCES}`)
  }

  /** A new workflow, with its first occurrence; when it supersedes an open one, that one is marked in the same write. */
  insert(record: WorkflowRecord, files: ArtifactFile[], group?: GroupFacts): void {
    // stored without the fields the columns own (status, occurrences, links between workflows)
    const { occurrences: _o, supersedes: _s, superseded_by: _sb, dedup_key: _d, grouped: _g, ...stored } = record
    this.insertStmt.run({
      id: record.workflow_id,
      issue_type: record.workflow.issue_type,
      severity: record.workflow.severity,
      status: record.status,
      created_at: record.created_at,
      record: JSON.stringify(stored),
      artifacts: JSON.stringify(files),
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
  findOpen(groupKey: string, since: string): WorkflowRecord | undefined {
    const row = this.db
      .prepare(`SELECT * FROM workflows WHERE group_key = ? AND status = 'generated' AND created_at >= ? ORDER BY seq DESC LIMIT 1`)
      .get(groupKey, since) as WorkflowRow | undefined
    return row && this.withRecent(row)
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
    return toRecord(row, this.recentStmt.all(row.id) as Occurrence[])
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
    return row && { record: this.withRecent(row), files: JSON.parse(row.artifacts) as ArtifactFile[] }
  }

  /** The committed workflow of this type on this branch — the live automation its files are — other than `except`. */
  live(issueType: string, branch: string, except: string): { workflow_id: string; commit_sha: string | null } | null {
    const row = this.db
      .prepare(`SELECT id, commit_sha FROM workflows WHERE issue_type = ? AND status = 'committed' AND commit_branch = ? AND id != ? ORDER BY seq DESC LIMIT 1`)
      .get(issueType, branch, except) as { id: string; commit_sha: string | null } | undefined
    return row ? { workflow_id: row.id, commit_sha: row.commit_sha } : null
  }

  /** Marks the workflow committed; the one it replaced at the same paths (same type and branch) becomes superseded. */
  markCommitted(id: string, commit: CommitInfo): void {
    this.db.transaction(() => {
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
    const { rows, next_cursor } = selectPage<WorkflowRow>(
      this.db,
      'SELECT * FROM workflows',
      [
        ['issue_type', '=', filter.issueType],
        ['status', '=', filter.status],
        ['occurrence_count', '>=', filter.minOccurrences],
      ],
      filter.limit,
      filter.beforeSeq,
    )
    return {
      items: rows.map((row) => {
        const r = toRecord(row)
        return {
          workflow_id: r.workflow_id,
          name: r.workflow.name,
          issue_type: r.workflow.issue_type,
          severity: r.workflow.severity,
          status: r.status,
          created_at: r.created_at,
          occurrence_count: row.occurrence_count,
          links: { self: r.links.self, preview: r.links.preview },
        }
      }),
      next_cursor,
    }
  }

  countsByType(): Record<string, number> {
    const rows = this.db.prepare('SELECT issue_type, COUNT(*) AS n FROM workflows GROUP BY issue_type ORDER BY issue_type').all() as {
      issue_type: string
      n: number
    }[]
    return Object.fromEntries(rows.map((r) => [r.issue_type, r.n]))
  }

  count(): number {
    return this.db.prepare('SELECT COUNT(*) FROM workflows').pluck().get() as number
  }
}
