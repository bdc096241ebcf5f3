import type { CommitInfo, WorkflowRecord, WorkflowStatus, WorkflowSummary } from '../contract/workflow.js'
import type { ArtifactFile } from '../generate/generate.js'
import type { Db } from './database.js'
import { selectPage } from './page.js'

interface WorkflowRow {
  seq: number
  record: string
  artifacts: string
  status: WorkflowStatus
  commit_sha: string | null
  commit_branch: string | null
  committed_at: string | null
}

export interface ListFilter {
  issueType?: string | undefined
  status?: WorkflowStatus | undefined
  limit: number
  /** list rows older than this sequence number */
  beforeSeq?: number | undefined
}

function toRecord(row: WorkflowRow): WorkflowRecord {
  const record = JSON.parse(row.record) as WorkflowRecord
  record.status = row.status
  if (row.commit_sha && row.commit_branch && row.committed_at) {
    record.commit = { sha: row.commit_sha, branch: row.commit_branch, committed_at: row.committed_at }
  }
  return record
}

/** Workflows persisted in SQLite: the record as answered, plus the files' content for git. */
export class WorkflowStore {
  private readonly insertStmt
  private readonly getStmt

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts)
       VALUES (@id, @issue_type, @severity, @status, @created_at, @record, @artifacts)`,
    )
    this.getStmt = db.prepare('SELECT * FROM workflows WHERE id = ?')
  }

  insert(record: WorkflowRecord, files: ArtifactFile[]): void {
    this.insertStmt.run({
      id: record.workflow_id,
      issue_type: record.workflow.issue_type,
      severity: record.workflow.severity,
      status: record.status,
      created_at: record.created_at,
      record: JSON.stringify(record),
      artifacts: JSON.stringify(files),
    })
  }

  get(id: string): WorkflowRecord | undefined {
    const row = this.getStmt.get(id) as WorkflowRow | undefined
    return row && toRecord(row)
  }

  /** The generated files with their content, as they would be written to the repository. */
  files(id: string): ArtifactFile[] | undefined {
    return this.getWithFiles(id)?.files
  }

  /** The record and its files from one read of the row (what a preview or commit needs). */
  getWithFiles(id: string): { record: WorkflowRecord; files: ArtifactFile[] } | undefined {
    const row = this.getStmt.get(id) as WorkflowRow | undefined
    return row && { record: toRecord(row), files: JSON.parse(row.artifacts) as ArtifactFile[] }
  }

  markCommitted(id: string, commit: CommitInfo): void {
    this.db
      .prepare(`UPDATE workflows SET status = 'committed', commit_sha = ?, commit_branch = ?, committed_at = ? WHERE id = ?`)
      .run(commit.sha, commit.branch, commit.committed_at, id)
  }

  list(filter: ListFilter): { items: WorkflowSummary[]; next_cursor: string | null } {
    const { rows, next_cursor } = selectPage<WorkflowRow>(
      this.db,
      'SELECT * FROM workflows',
      [
        ['issue_type', '=', filter.issueType],
        ['status', '=', filter.status],
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
          links: r.links,
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
