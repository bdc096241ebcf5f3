import path from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity } from '../helpers/app.js'
import { git } from '../helpers/git.js'
import { freshPostgres, type FreshPostgres } from '../helpers/postgres.js'
import { cleanupServers, send, startServer, tempDir, type RunningServer } from '../helpers/server.js'

/**
 * Several real service processes on one PostgreSQL and one bare remote (the scale-out issue):
 * keyed ingest sent to every instance at once, commits from different instances at once, and a
 * SIGKILL of one instance under load.
 */

let database: FreshPostgres | undefined
afterEach(async () => {
  await cleanupServers()
  await database?.drop()
  database = undefined
})

interface JsonAnswer {
  status: number
  body: Record<string, unknown>
}

/** One request on its own connection (a killed instance shows up as a socket error), its answer parsed. */
async function sendJson(base: string, method: string, urlPath: string, headers: Record<string, string> = {}, body?: object): Promise<JsonAnswer> {
  const res = await send(base, method, urlPath, headers, body === undefined ? undefined : JSON.stringify(body))
  return { status: res.status, body: JSON.parse(res.text) as Record<string, unknown> }
}

const postIssue = (server: RunningServer, key: string, issueType: string = sampleOpportunity.issue_type) =>
  sendJson(server.url, 'POST', '/issues', { 'idempotency-key': key }, { ...sampleOpportunity, issue_type: issueType })

/** A bare remote whose main has one commit, and `count` clones of it: one per instance. */
async function remoteWithClones(count: number): Promise<{ remote: string; clones: string[] }> {
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

async function startInstances(count: number): Promise<{ servers: RunningServer[]; remote: string }> {
  database = await freshPostgres()
  const { remote, clones } = await remoteWithClones(count)
  const servers: RunningServer[] = []
  // one after another: the second start finds the schema migrated (their racing start is tested in tests/store)
  for (const clone of clones) servers.push(await startServer({ DATABASE_URL: database.url, REPO_PATH: clone, RATE_LIMIT_MAX: '1000000' }))
  return { servers, remote }
}

describe('several instances on one PostgreSQL and one remote', () => {
  it('when each Idempotency-Key is sent to two instances at once, then each key makes one workflow, the other caller gets the replay or a 409, and one chain verifies on either', async () => {
    const { servers } = await startInstances(2)
    const [a, b] = servers as [RunningServer, RunningServer]
    const keys = Array.from({ length: 30 }, (_, i) => `shared-${i}`)
    const answers = await Promise.all(keys.map(async (key) => ({ key, pair: await Promise.all([postIssue(a, key), postIssue(b, key)]) })))
    const workflowIds = new Set<string>()
    for (const { key, pair } of answers) {
      const created = pair.filter((r) => r.status === 201)
      expect(created.length, `${key}: ${pair.map((r) => r.status).join(', ')}`).toBeGreaterThanOrEqual(1)
      for (const r of pair) expect([201, 409]).toContain(r.status)
      // a second 201 is the replay of the first, never a second workflow
      expect(new Set(created.map((r) => r.body.workflow_id)).size).toBe(1)
      workflowIds.add(String(created[0]?.body.workflow_id))
    }
    expect(workflowIds.size).toBe(keys.length)
    for (const server of servers) {
      const status = await sendJson(server.url, 'GET', '/status')
      expect((status.body.workflows as { total: number }).total).toBe(keys.length)
    }
    const [onA, onB] = await Promise.all([sendJson(a.url, 'GET', '/audit/verify?full=true'), sendJson(b.url, 'GET', '/audit/verify?full=true')])
    expect(onA.body).toMatchObject({ ok: true, problems: [] })
    expect(onB.body).toMatchObject({ ok: true, problems: [] })
    // the 60 POSTs, 2 status reads and the first verify of both: all in one chain, whichever instance wrote them
    expect(onB.body.entries).toBeGreaterThanOrEqual(2 * keys.length)
  })

  it('when two instances commit different workflows at once, then the remote gets two linear commits, both answers are 201, and each instance records its own', async () => {
    const { servers, remote } = await startInstances(2)
    const [a, b] = servers as [RunningServer, RunningServer]
    const churn = (await postIssue(a, 'c-1', 'high_churn')).body.workflow_id as string
    const revenue = (await postIssue(b, 'c-2', 'revenue_drop')).body.workflow_id as string
    const [first, second] = await Promise.all([
      sendJson(a.url, 'POST', '/commits', {}, { workflow_id: churn, dry_run: false }),
      sendJson(b.url, 'POST', '/commits', {}, { workflow_id: revenue, dry_run: false }),
    ])
    expect([first.status, second.status]).toEqual([201, 201])
    const log = (await git(remote, 'log', '--format=%H %P', 'main')).trim().split('\n')
    expect(log).toHaveLength(3) // start, and the two commits
    // linear: every commit has one parent, the one below it
    for (let i = 0; i < log.length - 1; i++) expect(log[i]?.split(' ')[1]).toBe(log[i + 1]?.split(' ')[0])
    const shas = new Set([first, second].map((r) => (r.body.commit as { sha: string }).sha))
    expect(shas.has(log[0]?.split(' ')[0] ?? '')).toBe(true)
    expect(shas.has(log[1]?.split(' ')[0] ?? '')).toBe(true)
    // either instance reads both as committed: the database is shared
    expect((await sendJson(b.url, 'GET', `/workflows/${churn}`)).body.status).toBe('committed')
    expect((await sendJson(a.url, 'GET', `/workflows/${revenue}`)).body.status).toBe('committed')
  })

  it('when one of two instances is killed with SIGKILL under keyed load, then every 201 it sent is stored, a retry on the other replays it or makes it once (a key cut off in flight waits out its lease), and the chain verifies', async () => {
    const { servers } = await startInstances(2)
    const [a, b] = servers as [RunningServer, RunningServer]
    const keys = Array.from({ length: 60 }, (_, i) => `kill-${i}`)
    const answered = new Map<string, string>()
    const queue = [...keys]
    // eight callers at a time; the kill comes once ten have their 201, while others are in flight
    const killed = (async () => {
      while (answered.size < 10) await new Promise((resolve) => setTimeout(resolve, 2))
      a.child.kill('SIGKILL')
    })()
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
          try {
            const res = await postIssue(a, key)
            if (res.status === 201) answered.set(key, String(res.body.workflow_id))
          } catch {
            // cut off by the kill (or refused after it): the retry below decides
          }
        }
      }),
    )
    await killed
    await a.exited
    const stored = new Set<string>()
    let inFlight = 0
    for (const key of keys) {
      const res = await postIssue(b, key)
      const before = answered.get(key)
      if (before) {
        expect(res.status, key).toBe(201)
        expect(res.body.workflow_id, `${key} was answered 201 by the killed instance`).toBe(before)
      } else if (res.status === 409) {
        // claimed by a request the kill cut off: the key stays "running" until its lease ends (ABANDONED_AFTER_MS)
        expect(res.body.type).toMatch(/idempotency-in-progress$/)
        inFlight++
      } else {
        expect(res.status, key).toBe(201)
      }
      if (res.status === 201) stored.add(String(res.body.workflow_id))
    }
    expect(answered.size).toBeGreaterThan(0)
    expect(inFlight).toBeLessThan(keys.length - answered.size + 1)
    // nothing acknowledged is lost, nothing is stored twice
    const status = await sendJson(b.url, 'GET', '/status')
    expect((status.body.workflows as { total: number }).total).toBe(stored.size)
    expect((await sendJson(b.url, 'GET', '/audit/verify?full=true')).body).toMatchObject({ ok: true, problems: [] })
  })

  it('when PostgreSQL drops every connection and refuses new ones under load, then requests are 503 problems (never 500), /readyz says so, and the instance serves again once the database is back', async () => {
    const { servers } = await startInstances(1)
    const [a] = servers as [RunningServer]
    const url = new URL(database?.url ?? '')
    const name = url.pathname.slice(1)
    url.pathname = '/postgres'
    const admin = new pg.Client(url.toString())
    await admin.connect()
    const statuses: number[] = []
    const problems = new Set<string>()
    let stop = false
    let n = 0
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          const res = await postIssue(a, `outage-${n++}`)
          statuses.push(res.status)
          if (res.status !== 201) problems.add(String(res.body.type))
        }
      }),
    )
    try {
      await new Promise((resolve) => setTimeout(resolve, 500))
      // what a restart looks like from the service: every session ended (57P01), no new one accepted
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
      await new Promise((resolve) => setTimeout(resolve, 1500))
      const down = await sendJson(a.url, 'GET', '/readyz')
      expect(down.status).toBe(503)
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
      // back: the next requests get connections again
      let ready = 0
      for (let i = 0; i < 100 && ready !== 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        ready = (await sendJson(a.url, 'GET', '/readyz')).status
      }
      expect(ready).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 500))
    } finally {
      stop = true
      await load
      await admin.end()
    }
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0)
    const failures = a.logs().split('\n').filter((l) => l.includes('unhandled error'))
    expect(statuses.filter((s) => s !== 201 && s !== 503), failures.join('\n').slice(0, 3000)).toEqual([])
    expect([...problems].every((type) => type.endsWith(':store-unavailable'))).toBe(true)
    expect((await postIssue(a, 'after-outage')).status).toBe(201)
    expect(a.child.exitCode).toBeNull()
    // the chain has every entry that was acknowledged, and no gap from the outage
    expect((await sendJson(a.url, 'GET', '/audit/verify?full=true')).body).toMatchObject({ ok: true, problems: [] })
    expect(a.stderr()).not.toMatch(/Unhandled|uncaught/i)
  })
})
