import path from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { MappingError } from './exports/mapping.js'
import { RepositoryError } from './git/errors.js'
import { ensureRepository, repositoryGitDir } from './git/open.js'
import { RemoteTruthRepository } from './git/remote-commit.js'
import { loadPlaybooks, PlaybookError } from './playbooks/load.js'
import { systemAuditEntry } from './http/audit-hook.js'
import { buildServices, type Services } from './services.js'
import { purgeExpired } from './store/retention.js'
import { openStore } from './store/open.js'
import { StoreUnavailable } from './store/sql.js'
import { acquireInstanceLock, InstanceLockError } from './store/instance-lock.js'

/** config → playbooks → store → repository → app → listen; SIGTERM/SIGINT drain and exit 0. */
async function main(): Promise<void> {
  const config = loadConfig()
  const releaseDataLock = acquireInstanceLock(path.join(config.dataDir, 'instance.lock'), `DATA_DIR ${config.dataDir}`)
  const playbooks = loadPlaybooks(config.templatesDir)
  await ensureRepository(config.repoPath, config.gitAuthor)
  const releaseRepoLock = acquireInstanceLock(
    path.join(await repositoryGitDir(config.repoPath, config.gitAuthor), 'auto-feature-builder.lock'),
    `REPO_PATH ${config.repoPath}`,
  )
  // the app's logger comes later; until then a lost idle database connection is reported on stderr
  const late: { log?: FastifyBaseLogger } = {}
  const { db } = await openStore(config, (err) => {
    if (late.log) late.log.warn({ err }, 'a database connection was lost; new ones are made as needed')
    else console.error(err)
  })
  const services = await buildServices(config, db, playbooks)
  if (services.repository instanceof RemoteTruthRepository) await services.repository.checkRemote()
  const recovery = await services.repository.recoverInterruptedCommit()
  // a person at a terminal reads lines, a log collector reads JSON
  const app = await buildApp({ services, logger: process.stdout.isTTY && !process.env.LOG_FORMAT_JSON ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : undefined })
  late.log = app.log
  app.addHook('onClose', async () => {
    await db.close()
    releaseRepoLock()
    releaseDataLock()
  })

  let closing = false
  // Once shutdown has begun, in-flight responses tell their client to close the connection;
  // otherwise a keep-alive socket would hold app.close() (and the exit) open until keepAliveTimeout.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close')
    return payload
  })
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) {
      app.log.warn({ signal }, 'second signal: exiting without waiting for in-flight requests')
      process.exit(1)
    }
    closing = true
    app.log.info({ signal, deadline_ms: config.shutdownTimeoutMs }, 'shutting down: finishing in-flight requests')
    // a client that stalls mid-request must not keep the process alive past the deadline
    setTimeout(() => {
      app.log.error('shutdown deadline passed: closing remaining connections')
      app.server.closeAllConnections()
      process.exit(1)
    }, config.shutdownTimeoutMs).unref()
    // app.close() stops accepting, waits for in-flight requests, then runs onClose (database close).
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)

  if (config.retentionDays !== undefined) scheduleRetention(services, config.retentionDays, app.log)

  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    throw new ConfigError(`port ${config.port} on ${config.host} is in use (another process listens there); set PORT to a free port`)
  }
  if (recovery !== 'none') app.log.warn({ recovery }, 'a commit interrupted by the previous process was finished or discarded')
  if (config.apiKeys.length === 0) app.log.warn('PROTECTED MODE: no API keys configured; only loopback callers are served')
  const address = app.server.address()
  const base = address && typeof address === 'object' ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : ''
  app.log.info(
    { repo: config.repoPath, data: config.dataDir, playbooks: [...playbooks.keys()], docs: `${base}/docs`, openapi: `${base}/openapi.json`, status: `${base}/status` },
    `auto-feature-builder ready at ${base} (Swagger UI ${base}/docs; dry run is the default)`,
  )
}

/** RETENTION_DAYS: purge at start and hourly, in the background; each purge that deleted anything is audited. */
function scheduleRetention(services: Services, days: number, log: FastifyBaseLogger): void {
  const run = async () => {
    try {
      const purged = await purgeExpired(services.db, new Date(), days)
      if (purged.workflows + purged.idempotencyKeys === 0) return
      const detail = `purged ${purged.workflows} uncommitted workflows older than ${days} days and ${purged.idempotencyKeys} expired idempotency keys`
      await services.audit.record(systemAuditEntry('retention.purge', 200, detail))
      log.info({ purged }, detail)
    } catch (err) {
      log.error({ err }, 'retention purge failed; it runs again in an hour')
    }
  }
  void run()
  setInterval(() => void run(), 3_600_000).unref()
}

main().catch((err: unknown) => {
  const known = err instanceof ConfigError || err instanceof PlaybookError || err instanceof MappingError || err instanceof RepositoryError || err instanceof InstanceLockError
  if (err instanceof StoreUnavailable) console.error(`auto-feature-builder cannot start: the database does not answer (${err.code}: ${err.message}); check DATABASE_URL and that the server runs`)
  else console.error(known ? `auto-feature-builder cannot start: ${(err as Error).message}` : err)
  process.exit(1)
})
