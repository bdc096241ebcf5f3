import type { Config } from '../config.js'
import { openDatabase, type Db } from './database.js'
import { openPostgres } from './postgres.js'
import { migratePostgres } from './postgres-migrate.js'
import type { SqlDatabase } from './sql.js'
import { SqliteDatabase } from './sqlite.js'

/** Where the audit verifier thread opens its own connection to the same store. */
export type StoreLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string }

export interface OpenedStore {
  db: SqlDatabase
  location: StoreLocation
  /** the SQLite handle itself when the store is SQLite (tests inspect rows through it) */
  sqlite: Db | undefined
}

export function storeLocation(config: Pick<Config, 'database' | 'databaseFile'>): StoreLocation {
  return config.database.url ? { kind: 'postgres', url: config.database.url } : { kind: 'sqlite', file: config.databaseFile }
}

/**
 * The store the configuration names, its schema brought up to date: PostgreSQL when DATABASE_URL
 * is set (migrations under a lock, so instances starting together migrate once), else the
 * embedded SQLite file under DATA_DIR.
 */
export async function openStore(config: Pick<Config, 'database' | 'databaseFile'>, onBackgroundError?: (err: Error) => void): Promise<OpenedStore> {
  const location = storeLocation(config)
  if (location.kind === 'sqlite') {
    const raw = openDatabase(location.file)
    return { db: new SqliteDatabase(raw), location, sqlite: raw }
  }
  const db = await openPostgres(location.url, { poolSize: config.database.poolSize, statementTimeoutMs: config.database.statementTimeoutMs, onBackgroundError })
  try {
    await migratePostgres(db)
  } catch (err) {
    await db.close()
    throw err
  }
  return { db, location, sqlite: undefined }
}
