import { encodeCursor } from './cursor.js'
import type { SqlSession } from './sql.js'

/** A filter column: applied only when its value is defined. */
export type Filter = readonly [column: string, operator: '=' | '>=' | '<', value: string | number | undefined]

/**
 * Newest-first keyset paging over a table with a `seq` column: one row more than asked tells
 * whether there is a next page, and the cursor is the last row's seq.
 */
export async function selectPage<Row extends { seq: number }>(
  db: SqlSession,
  select: string,
  filters: readonly Filter[],
  limit: number,
  beforeSeq: number | undefined,
): Promise<{ rows: Row[]; next_cursor: string | null }> {
  const active = [...filters, ['seq', '<', beforeSeq] as const].filter(([, , value]) => value !== undefined)
  const where = active.map(([column, operator]) => `${column} ${operator} ?`)
  const params = [...active.map(([, , value]) => value as string | number), limit + 1]
  const sql = `${select} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`
  const rows = await db.all<Row>(sql, params)
  const page = rows.slice(0, limit)
  const last = page.at(-1)
  return { rows: page, next_cursor: rows.length > limit && last ? encodeCursor(last.seq) : null }
}
