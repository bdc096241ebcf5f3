import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { ensureRepository } from '../../src/git/open.js'
import { loadPlaybooks } from '../../src/playbooks/load.js'
import { buildServices, type ServiceOptions, type Services } from '../../src/services.js'
import { openDatabase, type Db } from '../../src/store/database.js'
import { SqliteDatabase } from '../../src/store/sqlite.js'

export interface TestApp {
  app: FastifyInstance
  services: Services
  config: Config
  /** the SQLite database itself, for tests that inspect or tamper with rows */
  sqlite: Db
  /** the temp folder holding DATA_DIR (and the repository, unless REPO_PATH was given) */
  dir: string
  /** closes the app and the database; removes the temp folder unless keepDir */
  close(options?: { keepDir?: boolean }): Promise<void>
}

export function tempDir(prefix = 'afb-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix))
}

/** A real app on a real SQLite file and a real git repository in a temp folder. */
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
  const db = openDatabase(config.databaseFile)
  let services: Services
  try {
    services = await buildServices(config, new SqliteDatabase(db), loadPlaybooks(config.templatesDir), options)
  } catch (err) {
    // a start-up refusal under test leaves nothing behind
    db.close()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const app = await buildApp({ services, logger })
  await app.ready()
  return {
    app,
    services,
    config,
    sqlite: db,
    dir,
    async close(options = {}) {
      await app.close()
      db.close()
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const sampleOpportunity = {
  issue_type: 'high_churn',
  severity: 'high',
  description: 'Churn rose to 8% this week',
  metric_value: 0.08,
  affected_items: ['cust_1', 'cust_2'],
  source: 'income-engine',
} as const
