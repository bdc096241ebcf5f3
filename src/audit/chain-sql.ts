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

const AUDIT_TABLES = "('audit', 'audit_checkpoints', 'audit_high_water')"

/**
 * PostgreSQL: what verify compares to check that the audit tables are as the migrations left
 * them — each column's type, nullability and whether it is still generated from the hashed entry
 * (the expression names its own key), and each trigger with a digest of its function's source.
 */
export const POSTGRES_AUDIT_SCHEMA_SQL = `
  SELECT 'column' AS kind, c.table_name AS table_name, c.column_name AS name, c.ordinal_position AS position,
    c.data_type || ' ' || c.is_nullable || ' ' || c.is_generated
      || CASE WHEN c.is_generated = 'ALWAYS' AND position('''' || c.column_name || '''' IN c.generation_expression) > 0 THEN ' from entry' ELSE '' END AS detail
  FROM information_schema.columns c
  WHERE c.table_schema = current_schema() AND c.table_name IN ${AUDIT_TABLES}
  UNION ALL
  SELECT 'trigger', t.relname, g.tgname, 0, p.proname || ' ' || md5(p.prosrc)
  FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_proc p ON p.oid = g.tgfoid
  WHERE n.nspname = current_schema() AND t.relname IN ${AUDIT_TABLES} AND NOT g.tgisinternal
  ORDER BY kind, table_name, position, name`

const column = (table: string, name: string, position: number, detail: string) => ({ kind: 'column', table_name: table, name, position, detail })

/** What POSTGRES_AUDIT_SCHEMA_SQL gives after the PostgreSQL migrations (tests/store/postgres-migrations.test.ts holds the two together). */
export const POSTGRES_AUDIT_SCHEMA = [
  column('audit', 'seq', 1, 'bigint NO NEVER'),
  column('audit', 'entry', 2, 'text NO NEVER'),
  column('audit', 'hash', 3, 'text NO NEVER'),
  column('audit', 'at', 4, 'text YES ALWAYS from entry'),
  column('audit', 'workflow_id', 5, 'text YES ALWAYS from entry'),
  column('audit', 'operation', 6, 'text YES ALWAYS from entry'),
  column('audit_checkpoints', 'id', 1, 'bigint NO NEVER'),
  column('audit_checkpoints', 'seq', 2, 'bigint NO NEVER'),
  column('audit_checkpoints', 'hash', 3, 'text NO NEVER'),
  column('audit_checkpoints', 'at', 4, 'text NO NEVER'),
  column('audit_checkpoints', 'key_id', 5, 'text NO NEVER'),
  column('audit_checkpoints', 'signature', 6, 'text NO NEVER'),
  column('audit_high_water', 'id', 1, 'integer NO NEVER'),
  column('audit_high_water', 'seq', 2, 'bigint NO NEVER'),
  column('audit_high_water', 'hash', 3, 'text YES NEVER'),
  { kind: 'trigger', table_name: 'audit', name: 'audit_high_water_follow', position: 0, detail: 'audit_high_water_follow 3bd90f633975db88dc28aefd8f156980' },
]
