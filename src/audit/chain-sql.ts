import type { Dialect } from '../store/sql.js'

/** How the chain stays one chain where the log lives; the rest of appending and verifying is the same for every database. */
export interface ChainRules {
  /**
   * The highest seq ever assigned — kept by the database on every insert, so a deleted newest entry
   * leaves its mark — and, where several instances append, the hash appended with it. PostgreSQL's
   * statement also locks that row until the append's transaction ends: appends from all instances
   * take their turn there, so no two chain onto the same entry.
   */
  highWater: string
  /** whether other processes append too: then the head the next entry must follow is the database's mark, not what this process wrote last */
  shared: boolean
}

export const CHAIN_RULES: Record<Dialect, ChainRules> = {
  // BEGIN IMMEDIATE holds the write lock already; AUTOINCREMENT's sqlite_sequence is the mark
  sqlite: { highWater: "SELECT seq, NULL AS hash FROM sqlite_sequence WHERE name = 'audit'", shared: false },
  // audit_high_water is kept by a trigger on audit (src/store/postgres-migrations.ts)
  postgres: { highWater: 'SELECT seq, hash FROM audit_high_water WHERE id = 1 FOR UPDATE', shared: true },
}

/** The mark as verify reads it (no lock: verify reads a snapshot). */
export const HIGH_WATER_READ: Record<Dialect, string> = {
  sqlite: "SELECT seq FROM sqlite_sequence WHERE name = 'audit'",
  postgres: 'SELECT seq FROM audit_high_water WHERE id = 1',
}
