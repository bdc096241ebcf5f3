import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { KeyConfigError, parseApiKeys, type ApiKey } from './auth/keys.js'
import { webhookKey } from './auth/webhook.js'
import { PLATFORMS, type Platform } from './exports/mapping.js'
import { parseThresholds, readThresholdsFile } from './kpis/rules.js'
import { loadAnchoring } from './audit/checkpoint.js'

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
  // unset: true with DATABASE_URL (instances share the database, so the remote branch must be the one truth), else false
  GIT_REMOTE_IS_TRUTH: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  GIT_REMOTE_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  LOG_LEVEL: LogLevel.default('info'),
  TEMPLATES_DIR: z.string().min(1).optional(),
  BODY_LIMIT: z.coerce.number().int().min(1024).default(1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  API_KEYS: z.string().optional(),
  API_KEYS_FILE: z.string().min(1).optional(),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  RATE_LIMIT_MAX: z.coerce.number().int().min(1).default(300),
  IDEMPOTENCY_TTL_HOURS: z.coerce.number().min(1).max(24 * 30).default(24),
  EXPORT_FORMATS: z.string().default('n8n,make'),
  MAX_CONNECTIONS: z.coerce.number().int().min(1).default(1024),
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).default(5_000),
  RETENTION_DAYS: z.coerce.number().min(1).optional(),
  THRESHOLDS: z.string().optional(),
  THRESHOLDS_FILE: z.string().min(1).optional(),
  GROUP_WINDOW: z.string().default('24h'),
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
  AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).default(1000),
  AUDIT_CHECKPOINT_FILE: z.string().min(1).optional(),
  RESPONSE_VALIDATION: z.enum(['0', '1']).default('0'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// (or postgresql://) URL, e.g. postgres://afb:secret@db:5432/afb; leave it unset for the embedded SQLite')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
})

export interface Config {
  port: number
  host: string
  dataDir: string
  /** the embedded SQLite database, used unless DATABASE_URL is set */
  databaseFile: string
  /** DATABASE_URL: PostgreSQL, shared by every instance, instead of the SQLite file */
  database: { url: string | undefined; poolSize: number; statementTimeoutMs: number }
  repoPath: string
  /** undefined = the repository's current branch */
  commitBranch: string | undefined
  gitAuthor: { name: string; email: string }
  gitRemote: string
  /**
   * Several instances, each with its own clone, share GIT_REMOTE: a real commit is built on the
   * remote branch, pushed under a cluster-wide lock, and counts only once pushed (src/git/remote-commit.ts)
   */
  gitRemoteIsTruth: boolean
  /** every git command that talks to GIT_REMOTE (fetch, push) is killed after this long */
  gitRemoteTimeoutMs: number
  logLevel: z.infer<typeof LogLevel>
  templatesDir: string
  bodyLimit: number
  shutdownTimeoutMs: number
  /** check every response against its zod schema before sending (the tests do; production trusts the types) */
  responseValidation: boolean
  /** empty = protected mode: loopback callers only */
  apiKeys: ApiKey[]
  /** HMAC key of WEBHOOK_SECRET, when signed webhooks are enabled */
  webhookKey: Buffer | undefined
  /** requests per minute per key (or, without one, per IPv4 address or IPv6 /64) */
  rateLimitMax: number
  idempotencyTtlMs: number
  /** the platform exports generated and committed with each workflow */
  exportFormats: Platform[]
  /** open sockets at most; more are refused at once, so descriptors stay for the database and git */
  maxConnections: number
  /** a connection must send its complete request headers within this time (408 otherwise) */
  headersTimeoutMs: number
  /** a whole request (headers and body) within this time */
  requestTimeoutMs: number
  /** an idle keep-alive connection is closed after this time */
  keepAliveTimeoutMs: number
  /** uncommitted workflows and expired idempotency keys older than this are purged; undefined = kept */
  retentionDays: number | undefined
  /** detection thresholds that replace the playbooks' (checked against the playbooks at start-up) */
  thresholds: { env: Map<string, number>; file: Map<string, number> }
  /** a detection of a type with an open workflow younger than this becomes an occurrence of it; 0 = never */
  groupWindowMs: number
  /** the Ed25519 key that signs audit checkpoints; undefined = no checkpoints */
  auditSigningKey: import('node:crypto').KeyObject | undefined
  /** a signed checkpoint every this many audit entries (and at shutdown) */
  auditCheckpointEvery: number
  /** checkpoints are appended here too, outside DATA_DIR */
  auditCheckpointFile: string | undefined
}

/** 127.0.0.0/8, ::1 and localhost: the addresses only this machine can reach. */
export function isLoopback(hostOrAddress: string | undefined): boolean {
  if (!hostOrAddress) return false
  const h = hostOrAddress.replace(/^::ffff:/, '')
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
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

function loadApiKeys(inline: string | undefined, file: string | undefined): ApiKey[] {
  try {
    const fromFile = file ? parseApiKeys(readFileSync(file, 'utf8'), `API_KEYS_FILE ${file}`) : []
    const fromEnv = inline ? parseApiKeys(inline, 'API_KEYS') : []
    const all = [...fromEnv, ...fromFile]
    const ids = all.map((k) => k.id)
    const twice = ids.find((id, i) => ids.indexOf(id) !== i)
    if (twice) throw new KeyConfigError(`the key id ${twice} is in both API_KEYS and API_KEYS_FILE`)
    return all
  } catch (err) {
    if (err instanceof KeyConfigError || (err as NodeJS.ErrnoException).code) throw new ConfigError(`Invalid configuration:\n  ${(err as Error).message}`)
    throw err
  }
}

/** "n8n,make" → ['n8n', 'make']; "none" → []; an unknown name stops start-up naming it and the choices. */
function parseExportFormats(value: string): Platform[] {
  if (value.trim() === 'none') return []
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  const unknown = names.filter((n) => !(PLATFORMS as readonly string[]).includes(n))
  if (unknown.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  EXPORT_FORMATS: unknown format ${unknown.join(', ')}; choose from ${PLATFORMS.join(', ')} (comma-separated), or none`)
  }
  return PLATFORMS.filter((p) => names.includes(p))
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** "24h", "90m", "30s", "0" → milliseconds. */
export function parseDuration(value: string, name: string): number {
  const m = DURATION.exec(value.trim())
  if (!m) throw new ConfigError(`Invalid configuration:\n  ${name}: "${value}" is not a duration such as 24h, 90m, 30s or 0`)
  return Number(m[1]) * UNIT_MS[(m[2] ?? 'ms') as keyof typeof UNIT_MS]
}

/** GROUP_WINDOW: at most a year, so "now minus the window" is always a date. */
function groupWindow(value: string): number {
  const ms = parseDuration(value, 'GROUP_WINDOW')
  if (ms > 366 * UNIT_MS.d) throw new ConfigError(`Invalid configuration:\n  GROUP_WINDOW: ${value} is longer than a year; use at most 366d (or 0 to turn grouping off)`)
  return ms
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // `FOO=` (compose files, shells) means "not set", not "set to nothing"
  const parsed = Env.safeParse(Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')))
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`)
  }
  const e = parsed.data
  const dataDir = path.resolve(e.DATA_DIR)
  const apiKeys = loadApiKeys(e.API_KEYS, e.API_KEYS_FILE)
  if (apiKeys.length === 0 && !isLoopback(e.HOST)) {
    throw new ConfigError(
      `HOST=${e.HOST} would expose the service with no API keys. Set API_KEYS (e.g. API_KEYS=engine:ingest:<secret>,ops:read+commit:<secret>) ` +
        'or API_KEYS_FILE, or listen on HOST=127.0.0.1 (protected mode: loopback callers only).',
    )
  }
  let webhookSecretKey: Buffer | undefined
  try {
    webhookSecretKey = e.WEBHOOK_SECRET ? webhookKey(e.WEBHOOK_SECRET) : undefined
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  WEBHOOK_SECRET: ${(err as Error).message}`)
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    databaseFile: path.join(dataDir, 'auto-feature-builder.sqlite'),
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS },
    repoPath: path.resolve(e.REPO_PATH ?? path.join(dataDir, 'repo')),
    commitBranch: e.COMMIT_BRANCH,
    gitAuthor: { name: e.GIT_AUTHOR_NAME, email: e.GIT_AUTHOR_EMAIL },
    gitRemote: e.GIT_REMOTE,
    gitRemoteIsTruth: gitRemoteIsTruth(e.GIT_REMOTE_IS_TRUTH, e.DATABASE_URL),
    gitRemoteTimeoutMs: e.GIT_REMOTE_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    templatesDir: path.resolve(e.TEMPLATES_DIR ?? path.join(projectRoot(), 'templates')),
    bodyLimit: e.BODY_LIMIT,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    responseValidation: e.RESPONSE_VALIDATION === '1',
    apiKeys,
    webhookKey: webhookSecretKey,
    rateLimitMax: e.RATE_LIMIT_MAX,
    idempotencyTtlMs: e.IDEMPOTENCY_TTL_HOURS * 3600 * 1000,
    exportFormats: parseExportFormats(e.EXPORT_FORMATS),
    maxConnections: e.MAX_CONNECTIONS,
    headersTimeoutMs: Math.min(e.HEADERS_TIMEOUT_MS, e.REQUEST_TIMEOUT_MS),
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    retentionDays: e.RETENTION_DAYS,
    thresholds: {
      env: e.THRESHOLDS ? parseThresholds(e.THRESHOLDS, 'THRESHOLDS') : new Map(),
      file: e.THRESHOLDS_FILE ? readThresholdsFile(e.THRESHOLDS_FILE) : new Map(),
    },
    groupWindowMs: groupWindow(e.GROUP_WINDOW),
    ...auditAnchoring(e.AUDIT_SIGNING_KEY_FILE, e.AUDIT_CHECKPOINT_FILE, dataDir),
    auditCheckpointEvery: e.AUDIT_CHECKPOINT_EVERY,
  }
}

/**
 * With DATABASE_URL every instance keeps its own clone and shares the database: commits must go
 * through the remote, or two instances would each record a commit on a branch the other never sees.
 */
function gitRemoteIsTruth(setting: 'true' | 'false' | undefined, databaseUrl: string | undefined): boolean {
  if (databaseUrl && setting === 'false') {
    throw new ConfigError(
      'Invalid configuration:\n  GIT_REMOTE_IS_TRUTH: false cannot go with DATABASE_URL: instances sharing a database commit through GIT_REMOTE (the remote branch is the truth); remove GIT_REMOTE_IS_TRUTH or DATABASE_URL',
    )
  }
  return setting === undefined ? databaseUrl !== undefined : setting === 'true'
}

function auditAnchoring(keyFile: string | undefined, checkpointFile: string | undefined, dataDir: string) {
  try {
    return loadAnchoring(keyFile, checkpointFile, dataDir)
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  ${(err as Error).message}`)
  }
}
