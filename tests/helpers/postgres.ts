import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { inject } from 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    /** the suite's PostgreSQL cluster (tests/helpers/postgres-global-setup.ts), as its superuser */
    postgresAdminUrl: string
  }
}

export interface FreshPostgres {
  /** postgres://… of an empty database of its own */
  url: string
  /** drops the database, ending any session still on it */
  drop(): Promise<void>
}

/** An empty database on the suite's PostgreSQL cluster, for one test or one file. */
export async function freshPostgres(): Promise<FreshPostgres> {
  const adminUrl = inject('postgresAdminUrl')
  const name = `afb_test_${randomBytes(6).toString('hex')}`
  await asAdmin(adminUrl, `CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), drop: () => asAdmin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

async function asAdmin(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client(adminUrl)
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
