/**
 * Database bytes per workflow: N detections through HTTP (inject) on a fresh data directory, a WAL
 * checkpoint, then SQLite's dbstat table (the pages each table and index holds), before and after.
 */
import { testApp } from '../../tests/helpers/app.js'
import type { Db } from '../../src/store/database.js'
import { opportunity } from './common.js'

export interface StorageResult {
  workflows: number
  bytes_per_workflow: number
  /** bytes per workflow by group of tables, each with its indexes */
  split: Record<string, number>
  /** bytes per workflow of each table and index */
  by_object: Record<string, number>
  /** average stored bytes per workflow of the workflows table's largest columns (the values, without page overhead) */
  workflow_columns: Record<string, number>
  file_bytes_per_workflow: number
}

const GROUPS = ['workflows', 'audit', 'occurrences'] as const

function pages(db: Db): Map<string, number> {
  db.pragma('wal_checkpoint(TRUNCATE)')
  const rows = db.prepare('SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name').all() as Array<{ name: string; bytes: number }>
  return new Map(rows.map((r) => [r.name, r.bytes]))
}

function fileBytes(db: Db): number {
  return (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number)
}

export async function runStorage(n: number, env: Record<string, string>, log: (line: string) => void): Promise<StorageResult> {
  const t = await testApp(env)
  try {
    const db = t.sqlite
    const before = pages(db)
    const fileBefore = fileBytes(db)
    log(`  ${n.toLocaleString('en')} × POST /issues (inject, GROUP_WINDOW 0), then dbstat`)
    for (let i = 0; i < n; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...opportunity(i), metric_value: 0.05 + (i % 100) / 1000 } })
      if (res.statusCode !== 201) throw new Error(`POST /issues answered ${res.statusCode}: ${res.body}`)
    }
    const after = pages(db)
    const workflows = db.prepare('SELECT COUNT(*) FROM workflows').pluck().get() as number
    // which table each index belongs to
    const owner = new Map((db.prepare('SELECT name, tbl_name FROM sqlite_schema').all() as Array<{ name: string; tbl_name: string }>).map((r) => [r.name, r.tbl_name]))
    const byObject: Record<string, number> = {}
    const split: Record<string, number> = { workflows: 0, audit: 0, occurrences: 0, others: 0 }
    let total = 0
    for (const name of new Set([...before.keys(), ...after.keys()])) {
      const grew = (after.get(name) ?? 0) - (before.get(name) ?? 0)
      if (grew === 0) continue
      const table = owner.get(name) ?? name
      const group = (GROUPS as readonly string[]).includes(table) ? table : 'others'
      byObject[name] = Math.round(grew / workflows)
      split[group] = (split[group] ?? 0) + grew
      total += grew
    }
    for (const group of Object.keys(split)) split[group] = Math.round((split[group] ?? 0) / workflows)
    // the columns' own bytes (TEXT as UTF-8, BLOB as is), for the columns that hold at least 16 bytes a row
    const columns = (db.prepare(`SELECT name FROM pragma_table_info('workflows')`).pluck().all() as string[]).filter((c) => /^[a-z_]+$/.test(c))
    const sums = db.prepare(`SELECT ${columns.map((c) => `SUM(length(CAST(${c} AS BLOB))) AS ${c}`).join(', ')} FROM workflows`).get() as Record<string, number | null>
    const workflowColumns = Object.fromEntries(
      Object.entries(sums)
        .map(([c, bytes]) => [c, Math.round((bytes ?? 0) / workflows)] as const)
        .filter(([, bytes]) => bytes >= 16)
        .sort((a, b) => b[1] - a[1]),
    )
    return {
      workflows,
      bytes_per_workflow: Math.round(total / workflows),
      split,
      by_object: Object.fromEntries(Object.entries(byObject).sort((a, b) => b[1] - a[1])),
      workflow_columns: workflowColumns,
      file_bytes_per_workflow: Math.round((fileBytes(db) - fileBefore) / workflows),
    }
  } finally {
    await t.close()
  }
}
