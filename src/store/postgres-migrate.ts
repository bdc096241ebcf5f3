import { POSTGRES_MIGRATIONS, type PostgresMigration } from './postgres-migrations.js'
import type { SqlDatabase } from './sql.js'

/** Every instance takes this lock before looking at the schema: instances starting together migrate once. */
const MIGRATION_LOCK = 'auto-feature-builder schema migrations'

/**
 * Brings the PostgreSQL schema up to date: each pending migration in a transaction of its own,
 * recorded in schema_migrations as SQLite records them. A version this build does not know (a
 * newer instance migrated) is left alone, as SQLite's runner does.
 */
export async function migratePostgres(db: SqlDatabase, migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<void> {
  if (db.dialect !== 'postgres') throw new Error(`migratePostgres needs a PostgreSQL database, not ${db.dialect}`)
  await db.withLock(MIGRATION_LOCK, async () => {
    await db.run('CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)')
    const applied = new Set((await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((row) => row.version))
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue
      await db.transaction(async (tx) => {
        await tx.run(migration.sql)
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
          migration.version,
          migration.name,
          new Date().toISOString(),
        ])
      })
    }
  })
}
