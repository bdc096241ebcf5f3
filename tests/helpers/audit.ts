import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { canonicalJson, GENESIS_HASH, hashStoredEntry } from '../../src/audit/chain.js'
import type { Config } from '../../src/config.js'
import { openStore } from '../../src/store/open.js'
import type { SqlDatabase } from '../../src/store/sql.js'

/** Runs `fn` on a connection of its own to the service's store, whichever it is: what someone with database access can do. */
export async function withStore<T>(config: Pick<Config, 'database' | 'databaseFile'>, fn: (sql: SqlDatabase) => Promise<T>): Promise<T> {
  const { db } = await openStore(config)
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** Runs `fn` on a second, plain connection to the service database: what someone with the file can do. */
export function withSql<T>(file: string, fn: (sql: Database.Database) => T): T {
  const sql = new Database(file)
  try {
    return fn(sql)
  } finally {
    sql.close()
  }
}

/**
 * A forger's rewrite: applies `edit` to entry `seq`, then recomputes the hash of that entry and of
 * every later one, so the chain is whole again.
 */
export function rewriteAndRehash(file: string, seq: number, edit: (entry: Record<string, unknown>) => Record<string, unknown>): void {
  withSql(file, (sql) =>
    sql.transaction(() => {
      let prev = (sql.prepare('SELECT hash FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1').pluck().get(seq) as string | undefined) ?? GENESIS_HASH
      const rows = sql.prepare('SELECT seq, entry FROM audit WHERE seq >= ? ORDER BY seq').all(seq) as Array<{ seq: number; entry: string }>
      const update = sql.prepare('UPDATE audit SET entry = ?, hash = ? WHERE seq = ?')
      for (const row of rows) {
        const parsed = JSON.parse(row.entry) as Record<string, unknown>
        const entry = { ...(row.seq === seq ? edit(parsed) : parsed), prev_hash: prev }
        const text = canonicalJson(entry)
        prev = hashStoredEntry(prev, text)
        update.run(text, prev, row.seq)
      }
    })(),
  )
}

/** Appends `count` valid entries straight into the table, in one transaction (a large log, fast). */
export function insertEntries(file: string, count: number): void {
  withSql(file, (sql) =>
    sql.transaction(() => {
      const last = sql.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined
      let prev = last?.hash ?? GENESIS_HASH
      const insert = sql.prepare('INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)')
      const at = Date.now()
      for (let seq = (last?.seq ?? 0) + 1, end = seq + count; seq < end; seq++) {
        // canonical JSON written out by hand (keys sorted): canonicalJson per entry would dominate the setup
        const text =
          `{"actor":null,"at":"${new Date(at + seq).toISOString()}","commit_sha":null,"detail":null,"dry_run":null,"duration_ms":0.5,` +
          `"files":null,"ip":"127.0.0.1","issue_type":null,"method":"GET","operation":"health.live","path":"/healthz","prev_hash":"${prev}",` +
          `"pushed":null,"request_id":"bulk-${seq}","seq":${seq},"status":200,"user_agent":"bulk","workflow_id":null}`
        prev = hashStoredEntry(prev, text)
        insert.run(seq, text, prev)
      }
    })(),
  )
}

/** A fresh Ed25519 private key as PEM, written to `dir`; returns its path. */
export function signingKeyFile(dir: string, name = 'audit-signing.pem'): string {
  const file = path.join(dir, name)
  const { privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return file
}
