import type { Severity } from '../contract/opportunity.js'
import { SHOWN_UNION_ITEMS, type Occurrence, type OccurrenceDetail } from '../contract/workflow.js'
import { detectionValues } from '../workflows/occurrence.js'
import { selectPage } from './page.js'
import type { SqlDatabase, SqlSession } from './sql.js'

/*
 * The detections a workflow stands for (occurrences) and the union of the items they named: what
 * each caller said is kept, whichever workflow its detection joined. WorkflowStore writes them in
 * the same transaction as the workflow row they belong to.
 */

const RECENT_OCCURRENCES = 20

interface OccurrenceRow {
  seq: number
  at: string
  source: OccurrenceFacts['source']
  /** the number the detection carried: see detectionValues */
  observed: number
  severity: Severity
  /** Said as JSON; NULL in rows recorded before migration 13 */
  said: string | null
  affected_count: number | null
  actor: string | null
  request_id: string | null
}

/** One detection a workflow stands for: the one that created it, or a later one grouped into it. */
export interface OccurrenceFacts {
  at: string
  source: 'issues' | 'kpis'
  /** the number it carried: the measured metric (kpis) or the engine's own figure (issues), see detectionValues */
  value: number
  severity: Severity
  requestId: string | null
  /** the API key's name (or webhook) that sent it */
  actor: string | null
  description: string
  /** the first KEPT_AFFECTED_ITEMS items, as sent (duplicates too) */
  affectedItems: string[]
  affectedCount: number
  /** the detection's own `source` field */
  opportunitySource: string | null
}

/** What an occurrence's detection said, stored as JSON: caller text may hold a NUL, which PostgreSQL text cannot. */
interface Said {
  description: string
  affected_items: string[]
  source: string | null
}

const INSERT_OCCURRENCE_SQL = `INSERT INTO occurrences (workflow_id, at, source, observed, severity, request_id, said, affected_count, actor)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
const RECENT_SQL = `SELECT at, source, observed, severity FROM occurrences WHERE workflow_id = ? ORDER BY seq DESC LIMIT ${RECENT_OCCURRENCES}`
const UNION_SQL = `SELECT item FROM affected_items WHERE workflow_id = ? ORDER BY seq LIMIT ${SHOWN_UNION_ITEMS}`
const OCCURRENCE_PAGE_SQL = 'SELECT seq, at, source, observed, severity, said, affected_count, actor, request_id FROM occurrences'

const occurrenceParams = (workflowId: string, o: OccurrenceFacts) => [
  workflowId,
  o.at,
  o.source,
  o.value,
  o.severity,
  o.requestId,
  JSON.stringify({ description: o.description, affected_items: o.affectedItems, source: o.opportunitySource } satisfies Said),
  o.affectedCount,
  o.actor,
]

function occurrenceDetail(row: OccurrenceRow): OccurrenceDetail {
  const said = row.said === null ? undefined : (JSON.parse(row.said) as Said)
  return {
    at: row.at,
    source: row.source,
    ...detectionValues(row.source, row.observed),
    severity: row.severity,
    description: said?.description ?? null,
    affected_items: said?.affected_items ?? [],
    affected_count: row.affected_count,
    opportunity_source: said?.source ?? null,
    actor: row.actor,
    request_id: row.request_id,
  }
}

export class OccurrenceStore {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Records one occurrence and adds its kept items to the workflow's union. Every occurrence is kept
   * (until retention purges its workflow): each is bounded, so they grow with requests, as audit entries do.
   */
  async record(tx: SqlSession, workflowId: string, occurrence: OccurrenceFacts): Promise<void> {
    await tx.run(INSERT_OCCURRENCE_SQL, occurrenceParams(workflowId, occurrence))
    await this.addToUnion(tx, workflowId, occurrence.affectedItems)
  }

  /** The items an occurrence keeps join its workflow's union; the union's count grows by those it did not hold yet. */
  private async addToUnion(tx: SqlSession, workflowId: string, kept: readonly string[]): Promise<void> {
    const items = [...new Set(kept)].map((item) => JSON.stringify(item))
    if (items.length === 0) return
    const { changes } = await tx.run(
      `INSERT INTO affected_items (workflow_id, item) VALUES ${items.map(() => '(?, ?)').join(', ')} ON CONFLICT (workflow_id, item) DO NOTHING`,
      items.flatMap((item) => [workflowId, item]),
    )
    if (changes > 0) await tx.run('UPDATE workflows SET affected_item_count = affected_item_count + ? WHERE id = ?', [changes, workflowId])
  }

  /** Which of these items (at most an occurrence's kept ones) the workflow's union holds already. */
  async knownItems(workflowId: string, items: readonly string[]): Promise<Set<string>> {
    if (items.length === 0) return new Set()
    const rows = await this.db.all<{ item: string }>(`SELECT item FROM affected_items WHERE workflow_id = ? AND item IN (${items.map(() => '?').join(', ')})`, [
      workflowId,
      ...items.map((item) => JSON.stringify(item)),
    ])
    return new Set(rows.map((row) => JSON.parse(row.item) as string))
  }

  /** A page of a workflow's occurrences, newest first, with what each detection said. */
  async page(workflowId: string, limit: number, beforeSeq: number | undefined): Promise<{ items: OccurrenceDetail[]; next_cursor: string | null }> {
    const { rows, next_cursor } = await selectPage<OccurrenceRow>(this.db, OCCURRENCE_PAGE_SQL, [['workflow_id', '=', workflowId]], limit, beforeSeq)
    return { items: rows.map(occurrenceDetail), next_cursor }
  }

  /** The latest occurrences, newest first (a workflow's record shows them) */
  async recent(id: string): Promise<Occurrence[]> {
    const rows = await this.db.all<Pick<OccurrenceRow, 'at' | 'source' | 'observed' | 'severity'>>(RECENT_SQL, [id])
    return rows.map((row) => ({ at: row.at, source: row.source, ...detectionValues(row.source, row.observed), severity: row.severity }))
  }

  /** The first SHOWN_UNION_ITEMS items of the workflow's union, first seen first */
  async union(id: string): Promise<string[]> {
    return (await this.db.all<{ item: string }>(UNION_SQL, [id])).map((row) => JSON.parse(row.item) as string)
  }
}
