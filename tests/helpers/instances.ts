import path from 'node:path'
import { sampleOpportunity } from './app.js'
import { git } from './git.js'
import { send, startServer, tempDir, type RunningServer } from './server.js'

/**
 * Several real service processes on one PostgreSQL database and one bare remote, for the
 * end-to-end tests of the scale-out issue (tests/e2e/instances.test.ts, postgres-restart.test.ts).
 */

export interface JsonAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Record<string, unknown>
}

/** One request on its own connection (a killed instance shows up as a socket error), its answer parsed. */
export async function sendJson(base: string, method: string, urlPath: string, headers: Record<string, string> = {}, body?: object): Promise<JsonAnswer> {
  const res = await send(base, method, urlPath, headers, body === undefined ? undefined : JSON.stringify(body))
  return { status: res.status, headers: res.headers, body: JSON.parse(res.text) as Record<string, unknown> }
}

/** POST /issues with the sample opportunity (of `issueType`, with `extra` fields) under the Idempotency-Key `key`. */
export const postIssue = (server: RunningServer, key: string, issueType: string = sampleOpportunity.issue_type, extra: Record<string, unknown> = {}) =>
  sendJson(server.url, 'POST', '/issues', { 'idempotency-key': key }, { ...sampleOpportunity, issue_type: issueType, ...extra })

/** A bare remote whose main has one commit, and `count` clones of it: one per instance. */
export async function remoteWithClones(count: number): Promise<{ remote: string; clones: string[] }> {
  const root = tempDir('afb-instances-')
  const remote = path.join(root, 'remote.git')
  await git(root, 'init', '-q', '--bare', '-b', 'main', remote)
  const seed = path.join(root, 'seed')
  await git(root, 'clone', '-q', remote, seed)
  await git(seed, 'checkout', '-q', '-b', 'main')
  await git(seed, 'commit', '-q', '--allow-empty', '-m', 'start')
  await git(seed, 'push', '-q', 'origin', 'main')
  const clones: string[] = []
  for (let i = 0; i < count; i++) {
    const clone = path.join(root, `clone-${i}`)
    await git(root, 'clone', '-q', remote, clone)
    clones.push(clone)
  }
  return { remote, clones }
}

/** `count` instances on the database at `databaseUrl`, each with its own clone of one new bare remote. */
export async function startInstances(count: number, databaseUrl: string, env: Record<string, string> = {}): Promise<{ servers: RunningServer[]; remote: string }> {
  const { remote, clones } = await remoteWithClones(count)
  const start = (clone: string) => startServer({ DATABASE_URL: databaseUrl, REPO_PATH: clone, RATE_LIMIT_MAX: '1000000', ...env })
  // the first alone, so the others find the schema migrated (a racing start is tested in tests/store); the others side by side
  const first = await start(clones[0]!)
  return { servers: [first, ...(await Promise.all(clones.slice(1).map(start)))], remote }
}

/** The remote's main, newest first, as [sha, parent] pairs; throws unless every commit has one parent, the one below it. */
export async function linearHistory(remote: string): Promise<string[]> {
  const log = (await git(remote, 'log', '--format=%H %P', 'main')).trim().split('\n')
  for (let i = 0; i < log.length; i++) {
    const [sha, ...parents] = log[i]?.split(' ') ?? []
    const below = log[i + 1]?.split(' ')[0]
    if (below === undefined ? parents.length !== 0 : parents.length !== 1 || parents[0] !== below) {
      throw new Error(`the remote's main is not linear at ${sha} (parents ${parents.join(', ') || 'none'}):\n${log.join('\n')}`)
    }
  }
  return log.map((line) => line.split(' ')[0] ?? '')
}

/** The lines of a pino log that report an error the service did not expect (a 500), with their stack. */
export function unhandledErrors(server: RunningServer): string[] {
  return server
    .logs()
    .split('\n')
    .filter((line) => line.includes('"unhandled error"') || line.includes('response did not match its schema'))
}
