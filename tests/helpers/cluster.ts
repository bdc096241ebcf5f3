import { rmSync } from 'node:fs'
import pg from 'pg'
import { afterEach } from 'vitest'
import { tempDir, type TestApp } from './app.js'
import { freshPostgres, type FreshPostgres } from './postgres.js'
import { bareRemote, instance } from './remote.js'

/** In-process instances sharing one fresh PostgreSQL database and one bare remote, as in production. */
export interface Cluster {
  /** the instances, named a, b, c, … */
  apps: TestApp[]
  /** the shared database */
  url: string
  /** the shared remote */
  bare: string
  /** the temp folder holding the remote and each instance's DATA_DIR and clone */
  dir: string
}

/**
 * Starts clusters for the tests of a file and, after each test, closes their instances and
 * removes their databases and folders. Call at the top of a test file.
 */
export function clusters(): { start(instances: number, env?: Record<string, string>): Promise<Cluster>; database(): Promise<FreshPostgres> } {
  const apps: TestApp[] = []
  const dirs: string[] = []
  const databases: FreshPostgres[] = []
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close()
    for (const database of databases.splice(0)) await database.drop()
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  const database = async () => {
    const fresh = await freshPostgres()
    databases.push(fresh)
    return fresh
  }
  return {
    database,
    async start(instances, env = {}) {
      const dir = tempDir('afb-cluster-')
      dirs.push(dir)
      const bare = await bareRemote(dir)
      const { url } = await database()
      const started: TestApp[] = []
      for (let i = 0; i < instances; i++) {
        const app = await instance(dir, bare, String.fromCharCode(97 + i), { DATABASE_URL: url, ...env })
        apps.push(app)
        started.push(app)
      }
      return { apps: started, url, bare, dir }
    },
  }
}

/** Runs `work` on a session of its own (another application_name), as an operator or a second tool would. */
export async function outside<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'afb-test' })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * Closes the database at `url` to new sessions and ends the service's (as a restart does), or opens
 * it again. Run as the cluster's superuser, from the postgres database.
 */
export async function reachable(url: string, yes: boolean): Promise<void> {
  const name = new URL(url).pathname.slice(1)
  const admin = new URL(url)
  admin.pathname = '/postgres'
  await outside(admin.toString(), async (client) => {
    await client.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${yes}`)
    if (!yes) await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'auto-feature-builder'", [name])
  })
}
