import { POSTGRES_AUDIT_SCHEMA, POSTGRES_AUDIT_SCHEMA_SQL } from '../../src/audit/chain-sql.js'
import path from 'node:path'
import { rmSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase, type Db } from '../../src/store/database.js'
import { MIGRATIONS } from '../../src/store/migrations.js'
import { openPostgres } from '../../src/store/postgres.js'
import { migratePostgres } from '../../src/store/postgres-migrate.js'
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres-migrations.js'
import type { SqlDatabase, SqlSession } from '../../src/store/sql.js'
import { tempDir } from '../helpers/app.js'
import { freshPostgres, type FreshPostgres } from '../helpers/postgres.js'

const OPTIONS = { poolSize: 2, statementTimeoutMs: 5_000 }

const fresh: FreshPostgres[] = []
const opened: SqlDatabase[] = []

async function migratedDatabase(): Promise<SqlDatabase> {
  const database = await freshPostgres()
  fresh.push(database)
  const db = await openPostgres(database.url, OPTIONS)
  opened.push(db)
  await migratePostgres(db)
  return db
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()))
  await Promise.all(fresh.splice(0).map((database) => database.drop()))
})

describe('PostgreSQL migrations', () => {
  it('when two instances start together, then every migration is applied once', async () => {
    const database = await freshPostgres()
    fresh.push(database)
    const instances = [await openPostgres(database.url, OPTIONS), await openPostgres(database.url, OPTIONS)]
    opened.push(...instances)
    await Promise.all(instances.map((db) => migratePostgres(db)))
    const applied = await instances[0]!.all<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
    expect(applied).toEqual(POSTGRES_MIGRATIONS.map(({ version, name }) => ({ version, name })))
    // and again later: nothing left to do
    await migratePostgres(instances[1]!)
    expect(await instances[1]!.get('SELECT count(*) AS n FROM schema_migrations')).toEqual({ n: POSTGRES_MIGRATIONS.length })
  })

  it('when a later migration comes, then only it runs; when it fails, then it leaves nothing and is not recorded', async () => {
    const db = await migratedDatabase()
    const latest = POSTGRES_MIGRATIONS.at(-1)!
    const next = { version: latest.version + 1, name: 'a later column', mirrors: latest.mirrors, sql: 'ALTER TABLE workflows ADD COLUMN later text' }
    const broken = { version: latest.version + 2, name: 'half a migration', mirrors: latest.mirrors, sql: 'CREATE TABLE half (x text); SELECT no_such_function()' }
    await expect(migratePostgres(db, [...POSTGRES_MIGRATIONS, next, broken])).rejects.toMatchObject({ code: '42883' })
    expect(await db.all('SELECT version FROM schema_migrations ORDER BY version')).toEqual([...POSTGRES_MIGRATIONS, next].map(({ version }) => ({ version })))
    expect(await db.get("SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'workflows' AND column_name = 'later'")).toEqual({ n: 1 })
    expect(await db.get("SELECT to_regclass('half') AS half")).toEqual({ half: null })
  })

  it('when SQLite gains a migration, then PostgreSQL has one that mirrors it (versions ascending)', () => {
    expect(POSTGRES_MIGRATIONS.at(-1)?.mirrors).toBe(MIGRATIONS.at(-1)?.version)
    const versions = POSTGRES_MIGRATIONS.map((migration) => migration.version)
    expect(versions).toEqual([...versions].sort((a, b) => a - b))
    expect(new Set(versions).size).toBe(versions.length)
  })
})

describe('the PostgreSQL schema beside the SQLite one', () => {
  let sqliteDir: string
  let sqlite: Db
  let postgres: SqlDatabase
  const databases: FreshPostgres[] = []

  beforeAll(async () => {
    sqliteDir = tempDir()
    sqlite = openDatabase(path.join(sqliteDir, 'parity.sqlite'))
    const database = await freshPostgres()
    databases.push(database)
    postgres = await openPostgres(database.url, OPTIONS)
    await migratePostgres(postgres)
  })

  afterAll(async () => {
    sqlite.close()
    rmSync(sqliteDir, { recursive: true, force: true })
    await postgres.close()
    await databases[0]?.drop()
  })

  const sqliteTables = () =>
    (sqlite.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((t) => t.name)

  it('when both are at their latest version, then they have the same tables', async () => {
    const tables = await postgres.all<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1")
    // audit_high_water is what SQLite's own sqlite_sequence is to its audit table; request_counts
    // are the rate limit's, which a single SQLite instance keeps in memory
    expect(tables.map((t) => t.name)).toEqual([...sqliteTables(), 'audit_high_water', 'request_counts'].sort())
  })

  it('when a table is in both, then it has the same columns in the same order, with matching types, NOT NULL, defaults and generated columns', async () => {
    const POSTGRES_TYPE: Record<string, string> = { INTEGER: 'bigint', TEXT: 'text', REAL: 'double precision' }
    for (const table of sqliteTables()) {
      const expected = (sqlite.pragma(`table_xinfo(${table})`) as { name: string; type: string; notnull: number; pk: number; dflt_value: string | null; hidden: number }[]).map(
        (column) => ({
          name: column.name,
          type: POSTGRES_TYPE[column.type],
          // an INTEGER PRIMARY KEY is the rowid: never null, whatever table_info says
          nullable: column.notnull === 0 && column.pk === 0,
          default: column.dflt_value,
          // hidden 2 and 3: generated columns (VIRTUAL, STORED)
          generated: column.hidden >= 2,
        }),
      )
      const actual = await postgres.all<{ name: string; type: string; nullable: boolean; default: string | null; generated: boolean }>(
        `SELECT column_name AS name, data_type AS type, is_nullable = 'YES' AS nullable, column_default AS default, is_generated = 'ALWAYS' AS generated
           FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`,
        [table],
      )
      expect(actual, table).toEqual(expected)
    }
  })

  it('when SQLite has an index, then PostgreSQL has it too: by name when SQLite names it, and a unique one on the same columns for a key', async () => {
    const postgresIndexes = await postgres.all<{ name: string; table: string; unique: boolean; columns: string[] }>(
      `SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique, array_agg(a.attname::text ORDER BY k.position) AS columns
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
        WHERE n.nspname = current_schema()
        GROUP BY i.relname, t.relname, x.indisunique`,
    )
    let checked = 0
    for (const table of sqliteTables()) {
      for (const index of sqlite.pragma(`index_list(${table})`) as { name: string; unique: number; origin: 'c' | 'u' | 'pk' }[]) {
        const columns = (sqlite.pragma(`index_info(${index.name})`) as { name: string }[]).map((column) => column.name)
        const expected = { table, unique: index.unique === 1, columns }
        if (index.origin === 'c') {
          expect(postgresIndexes.find((candidate) => candidate.name === index.name), index.name).toEqual({ name: index.name, ...expected })
        } else {
          // UNIQUE and PRIMARY KEY indexes: sqlite_autoindex_… in SQLite, the constraint's own name in PostgreSQL
          expect(postgresIndexes.filter((candidate) => candidate.table === table && candidate.unique && candidate.columns.join() === columns.join()), index.name).toHaveLength(1)
        }
        checked++
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10)
  })

  it('when migrated, then the audit tables are exactly what verify expects (a drift here would make every verify report the schema)', async () => {
    expect(await postgres.all(POSTGRES_AUDIT_SCHEMA_SQL)).toEqual(POSTGRES_AUDIT_SCHEMA)
  })

  it('when SQLite has a trigger, then PostgreSQL has one of the same name on the same table', async () => {
    const expected = [
      ...(sqlite.prepare("SELECT name, tbl_name AS table_name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name").all() as { name: string; table_name: string }[]),
      // keeps audit_high_water, as SQLite keeps sqlite_sequence
      { name: 'audit_high_water_follow', table_name: 'audit' },
    ].sort((a, b) => a.name.localeCompare(b.name))
    const actual = await postgres.all(
      `SELECT g.tgname AS name, t.relname AS table_name FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND NOT g.tgisinternal ORDER BY 1`,
    )
    expect(actual).toEqual(expected)
  })
})

describe('the PostgreSQL schema at work', () => {
  const insertWorkflow = (db: SqlSession, id: string, issueType: string) =>
    db.run("INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts) VALUES (?, ?, 'high', 'generated', '2026-11-26T00:00:00.000Z', '', '')", [id, issueType])

  it('when workflows are inserted, deleted or change type, then workflow_counts follows, as SQLite triggers keep it', async () => {
    const db = await migratedDatabase()
    const counts = async () => Object.fromEntries((await db.all<{ issue_type: string; n: number }>('SELECT issue_type, n FROM workflow_counts')).map((row) => [row.issue_type, row.n]))
    await insertWorkflow(db, 'w1', 'high_churn')
    await insertWorkflow(db, 'w2', 'high_churn')
    await insertWorkflow(db, 'w3', 'error_spike')
    expect(await counts()).toEqual({ high_churn: 2, error_spike: 1 })
    await db.run("DELETE FROM workflows WHERE id = 'w1'")
    expect(await counts()).toEqual({ high_churn: 1, error_spike: 1 })
    await db.run("UPDATE workflows SET issue_type = 'high_churn' WHERE id = 'w3'")
    expect(await counts()).toEqual({ high_churn: 2, error_spike: 0 })
    await db.run("UPDATE workflows SET status = 'committed', issue_type = issue_type")
    expect(await counts()).toEqual({ high_churn: 2, error_spike: 0 })
    // a rolled-back insert leaves the count as it was
    await expect(
      db.transaction(async (tx) => {
        await insertWorkflow(tx, 'w4', 'high_churn')
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    expect(await counts()).toEqual({ high_churn: 2, error_spike: 0 })
  })

  it("when an audit entry is stored, then at, workflow_id and operation are read from its JSON, follow an UPDATE, and can't be written", async () => {
    const db = await migratedDatabase()
    const entry = (fields: object) => JSON.stringify({ at: '2026-11-26T09:00:00.000Z', seq: 1, operation: 'issue.create', workflow_id: 'w1', ...fields })
    await db.run('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)', [1, entry({}), 'h1'])
    // PostgreSQL's JSON parser refuses \u0000 anywhere in the text; SQLite's does not: the entry is still stored
    await db.run('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)', [2, entry({ workflow_id: null, detail: 'a\u0000b' }), 'h2'])
    expect(await db.all('SELECT seq, at, workflow_id, operation FROM audit ORDER BY seq')).toEqual([
      { seq: 1, at: '2026-11-26T09:00:00.000Z', workflow_id: 'w1', operation: 'issue.create' },
      { seq: 2, at: '2026-11-26T09:00:00.000Z', workflow_id: null, operation: 'issue.create' },
    ])
    await db.run('UPDATE audit SET entry = ? WHERE seq = 1', [entry({ operation: 'commit.create' })])
    expect(await db.get('SELECT operation FROM audit WHERE seq = 1')).toEqual({ operation: 'commit.create' })
    await expect(db.run("UPDATE audit SET operation = 'forged' WHERE seq = 1")).rejects.toMatchObject({ code: '428C9' })
    await expect(db.run("INSERT INTO audit (entry, hash) VALUES ('not json', 'h3')")).rejects.toMatchObject({ code: '22P02' })
  })

  it('when numbers come back, then seq, counts and unix milliseconds are numbers and observed values keep their fraction', async () => {
    const db = await migratedDatabase()
    await db.run("INSERT INTO occurrences (workflow_id, at, source, observed, severity) VALUES ('w1', '2026-11-26T09:00:00.000Z', 'kpis', ?, 'high')", [0.08])
    await db.run("INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES ('anonymous', 'k', 'f', 'running', ?, ?)", [1_795_000_000_000, 1_795_086_400_000])
    expect(await db.get('SELECT seq, observed FROM occurrences')).toEqual({ seq: 1, observed: 0.08 })
    expect(await db.get('SELECT created_at, expires_at FROM idempotency_keys')).toEqual({ created_at: 1_795_000_000_000, expires_at: 1_795_086_400_000 })
  })
})
