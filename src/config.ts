import { existsSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'

/** Environment → typed, validated configuration. Invalid values stop start-up with a readable message. */
const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  REPO_PATH: z.string().min(1).optional(),
  COMMIT_BRANCH: z.string().min(1).optional(),
  GIT_AUTHOR_NAME: z.string().min(1).default('auto-feature-builder'),
  GIT_AUTHOR_EMAIL: z.string().min(3).default('auto-feature-builder@localhost'),
  GIT_REMOTE: z.string().min(1).default('origin'),
  LOG_LEVEL: LogLevel.default('info'),
  TEMPLATES_DIR: z.string().min(1).optional(),
  BODY_LIMIT: z.coerce.number().int().min(1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
})

export interface Config {
  port: number
  host: string
  dataDir: string
  databaseFile: string
  repoPath: string
  /** undefined = the repository's current branch */
  commitBranch: string | undefined
  gitAuthor: { name: string; email: string }
  gitRemote: string
  logLevel: z.infer<typeof LogLevel>
  templatesDir: string
  bodyLimit: number
  shutdownTimeoutMs: number
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * The folder holding package.json. This file runs from src/ (tsx, tests) and from dist/src/
 * (npm start, Docker), so a fixed relative path would be wrong in one of them.
 */
export function projectRoot(from = import.meta.dirname): string {
  let dir = from
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new ConfigError(`no package.json above ${from}`)
    dir = parent
  }
  return dir
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = path.resolve(e.DATA_DIR)
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    databaseFile: path.join(dataDir, 'auto-feature-builder.sqlite'),
    repoPath: path.resolve(e.REPO_PATH ?? path.join(dataDir, 'repo')),
    commitBranch: e.COMMIT_BRANCH,
    gitAuthor: { name: e.GIT_AUTHOR_NAME, email: e.GIT_AUTHOR_EMAIL },
    gitRemote: e.GIT_REMOTE,
    logLevel: e.LOG_LEVEL,
    templatesDir: path.resolve(e.TEMPLATES_DIR ?? path.join(projectRoot(), 'templates')),
    bodyLimit: e.BODY_LIMIT,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  }
}
