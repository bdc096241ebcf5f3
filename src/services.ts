import { AuditLog } from './audit/log.js'
import { IdempotencyStore } from './idempotency/store.js'
import { CommitService } from './commits/service.js'
import type { Config } from './config.js'
import type { StoreHealth } from './http/commit-point.js'
import { ServiceMetrics } from './http/metrics.js'
import { buildRules, type DetectionRule } from './kpis/rules.js'
import { GroupLocks } from './workflows/group-locks.js'
import { loadPlatformMappings, type PlatformMappings } from './exports/mapping.js'
import { RemoteTruthRepository } from './git/remote-commit.js'
import { Repository } from './git/repository.js'
import type { LoadedPlaybook } from './playbooks/schema.js'
import { storeLocation } from './store/open.js'
import type { SqlDatabase, WithLock } from './store/sql.js'
import { WorkflowStore } from './store/workflows.js'
import { RepositoryStatusCache } from './status.js'
import { regenerator } from './workflows/regenerate.js'
import { WorkflowService } from './workflows/service.js'

/** Everything the routes call into, built once per app. */
export interface Services {
  config: Config
  db: SqlDatabase
  playbooks: ReadonlyMap<string, LoadedPlaybook>
  mappings: PlatformMappings
  store: WorkflowStore
  workflows: WorkflowService
  audit: AuditLog
  repository: Repository
  commits: CommitService
  idempotency: IdempotencyStore
  /** detection rules in force (playbook thresholds with THRESHOLDS / THRESHOLDS_FILE applied) */
  rules: DetectionRule[]
  metrics: ServiceMetrics
  groupLocks: GroupLocks
  /** whether the last request's transaction could be written (a full disk makes /readyz say so) */
  storeHealth: StoreHealth
  startedAt: Date
  /** /status and /readyz: the repository's branch, head and remote distance, reused while no ref file changed */
  repositoryStatus: RepositoryStatusCache
  rateLimitTiming: RateLimitTiming
}

/**
 * The time the rate limit runs on. Production uses the wall clock and a short wait; tests pin
 * both, so a count never depends on how fast a loaded machine serves the requests.
 */
export interface RateLimitTiming {
  /**
   * The clock of this process's own windows: the counts of requests that reach no route, the
   * refusal ledger, the shared counter's remembered verdicts and back-off. (The rate-limit
   * plugin's per-instance store and PostgreSQL's shared counts keep their own clocks; both
   * start a caller's window at its first request.)
   */
  now: () => number
  /**
   * How long a request waits for its shared count on PostgreSQL before its instance counts it
   * alone (counting runs before authentication, so it must not hold a request long).
   */
  sharedCountWaitMs: number
}

const WALL_CLOCK_TIMING: RateLimitTiming = { now: Date.now, sharedCountWaitMs: 100 }

export interface ServiceOptions {
  /**
   * The cluster-wide lock a commit takes with GIT_REMOTE_IS_TRUTH (per remote and branch). By
   * default the database's (SqlDatabase.withLock): in this process with SQLite, across the
   * instances sharing a PostgreSQL database.
   */
  withLock?: WithLock
  /** the rate limit's clock and waits, each defaulting to the wall clock's (WALL_CLOCK_TIMING) */
  rateLimitTiming?: Partial<RateLimitTiming>
}

/** Throws MappingError when a platform mapping is missing or does not fit a playbook (start-up stops, naming the files). */
export async function buildServices(config: Config, db: SqlDatabase, playbooks: ReadonlyMap<string, LoadedPlaybook>, options: ServiceOptions = {}): Promise<Services> {
  const mappings = loadPlatformMappings(config.templatesDir, playbooks)
  const store = new WorkflowStore(db, regenerator(playbooks, mappings))
  const workflows = new WorkflowService(playbooks, store, { exports: { formats: config.exportFormats, mappings }, groupWindowMs: config.groupWindowMs })
  const audit = new AuditLog(db, { ...config, store: storeLocation(config) })
  await audit.load()
  const idempotency = new IdempotencyStore(db, config.idempotencyTtlMs)
  await idempotency.clearAbandoned()
  const repositoryOptions = { path: config.repoPath, branch: config.commitBranch, identity: config.gitAuthor, remote: config.gitRemote, remoteTimeoutMs: config.gitRemoteTimeoutMs }
  const repository = config.gitRemoteIsTruth
    ? new RemoteTruthRepository(repositoryOptions, { withLock: options.withLock ?? ((name, work) => db.withLock(name, work)) })
    : new Repository(repositoryOptions)
  return {
    config,
    db,
    playbooks,
    mappings,
    store,
    workflows,
    audit,
    repository,
    commits: new CommitService(store, repository, () => audit.head()),
    idempotency,
    rules: buildRules(playbooks, config.thresholds),
    metrics: new ServiceMetrics(),
    groupLocks: new GroupLocks(db),
    storeHealth: { lastWriteError: null },
    startedAt: new Date(),
    repositoryStatus: new RepositoryStatusCache(repository),
    rateLimitTiming: { ...WALL_CLOCK_TIMING, ...options.rateLimitTiming },
  }
}
