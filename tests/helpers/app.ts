import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { ensureRepository } from '../../src/git/open.js'
import { loadPlaybooks } from '../../src/playbooks/load.js'
import { buildServices, type ServiceOptions, type Services } from '../../src/services.js'
import type { Db } from '../../src/store/database.js'
import { openStore } from '../../src/store/open.js'
import { freshPostgres, type FreshPostgres } from './postgres.js'

export interface TestApp {
  app: FastifyInstance
  services: Services
  config: Config
  /** the SQLite database itself, for tests that inspect or tamper with rows (throws when the store is PostgreSQL) */
  sqlite: Db
  /** the temp folder holding DATA_DIR (and the repository, unless REPO_PATH was given) */
  dir: string
  /** closes the app and the database; removes the temp folder unless keepDir */
  close(options?: { keepDir?: boolean }): Promise<void>
}

export function tempDir(prefix = 'afb-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix))
}

/**
 * Which store testApp uses when the test names none: AFB_TEST_STORE=postgres runs the suite on
 * PostgreSQL (a fresh database per app), as the vitest project "postgres" does.
 */
export const onPostgres = process.env.AFB_TEST_STORE === 'postgres'

/** PostgreSQL databases of apps closed with keepDir: an app started again on that folder finds its data there, as it would in the SQLite file */
const keptDatabases = new Map<string, FreshPostgres>()

/** A real app on a real store (a SQLite file, or a fresh PostgreSQL database) and a real git repository in a temp folder. */
export async function testApp(
  env: Record<string, string> = {},
  dir = tempDir(),
  logger: FastifyServerOptions['logger'] = false,
  options: ServiceOptions = {},
): Promise<TestApp> {
  // property tests send thousands of requests: the rate limit has its own test; most tests post the same
  // opportunity again and again and expect a new workflow each time: grouping has its own tests
  const config = loadConfig({ DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '1000000', GROUP_WINDOW: '0', RESPONSE_VALIDATION: '1', ...env })
  await ensureRepository(config.repoPath, config.gitAuthor)
  const postgres: FreshPostgres | undefined = onPostgres && !env.DATABASE_URL ? (keptDatabases.get(dir) ?? (await freshPostgres())) : undefined
  keptDatabases.delete(dir)
  if (postgres) config.database.url = postgres.url
  const { db, sqlite } = await openStore(config)
  let services: Services
  try {
    // a count in PostgreSQL's shared table may take long on a loaded machine: waiting for it as long
    // as it takes (10 s only bounds a hang) keeps each count the cluster's, never this instance's alone
    const rateLimitTiming = { sharedCountWaitMs: 10_000, ...options.rateLimitTiming }
    services = await buildServices(config, db, loadPlaybooks(config.templatesDir), { ...options, rateLimitTiming })
  } catch (err) {
    // a start-up refusal under test leaves nothing behind
    await db.close()
    await postgres?.drop()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const app = await buildApp({ services, logger })
  await app.ready()
  return {
    app,
    services,
    config,
    get sqlite(): Db {
      if (!sqlite) throw new Error('this test reads SQLite itself; on PostgreSQL it must use services.db')
      return sqlite
    },
    dir,
    async close(options = {}) {
      await app.close()
      await db.close()
      if (options.keepDir && postgres) keptDatabases.set(dir, postgres)
      else await postgres?.drop()
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * Service options whose rate-limit clock stands still: a window opened in a test never ends
 * during it, however slowly the machine serves the requests.
 */
export const pinnedRateLimitClock: ServiceOptions = { rateLimitTiming: { now: () => Date.parse('2025-01-06T09:00:00Z') } }

export const sampleOpportunity = {
  issue_type: 'high_churn',
  severity: 'high',
  description: 'Churn rose to 8% this week',
  metric_value: 0.08,
  affected_items: ['cust_1', 'cust_2'],
  source: 'income-engine',
} as const
