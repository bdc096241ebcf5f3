import type { SqlSession } from './sql.js'

/** How many requests a caller made in its current window, and how long that window still runs. */
export interface WindowCount {
  count: number
  resetInMs: number
}

// The statement's own timestamp, so the window it starts and the time left in it agree.
const NOW_MS = '(extract(epoch FROM statement_timestamp()) * 1000)::bigint'

/**
 * Counts one request of `bucket` in PostgreSQL's request_counts (migration 3), which every
 * instance shares: one statement, one row lock, no WAL. A window starts at the bucket's first
 * request and lasts `windowMs`; the first request after it starts the next.
 */
export async function countRequest(db: SqlSession, bucket: string, windowMs: number): Promise<WindowCount> {
  const row = await db.get<{ count: number; reset_in_ms: number }>(
    `INSERT INTO request_counts AS c (bucket, window_start, count) VALUES (?, ${NOW_MS}, 1)
     ON CONFLICT (bucket) DO UPDATE SET
       count = CASE WHEN c.window_start + ? <= excluded.window_start THEN 1 ELSE c.count + 1 END,
       window_start = CASE WHEN c.window_start + ? <= excluded.window_start THEN excluded.window_start ELSE c.window_start END
     RETURNING count, window_start + ? - ${NOW_MS} AS reset_in_ms`,
    [bucket, windowMs, windowMs, windowMs],
  )
  if (!row) throw new Error('INSERT … RETURNING gave no row')
  return { count: row.count, resetInMs: Number(row.reset_in_ms) }
}

/** Removes the rows whose window is over, so the table holds only the callers of the last window. */
export async function forgetEndedWindows(db: SqlSession, windowMs: number): Promise<number> {
  const { changes } = await db.run(`DELETE FROM request_counts WHERE window_start + ? <= ${NOW_MS}`, [windowMs])
  return changes
}
