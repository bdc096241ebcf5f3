import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { linearHistory, postIssue, sendJson, startInstances, unhandledErrors } from '../helpers/instances.js'
import { startPostgresCluster, type PostgresCluster } from '../helpers/postgres-cluster.js'
import { cleanupServers, type RunningServer } from '../helpers/server.js'

/**
 * A real PostgreSQL restart under load: two service processes on one database and one remote take
 * keyed POST /issues (each holding a group lock, an advisory lock) and real commits, while the
 * server is shut down (fast: SIGINT; immediate: SIGQUIT, as a crash) and started again on the same
 * data and port. A cluster of this file's own, not the suite's: the other files' tests must not
 * see it go away. synchronous_commit is on, so an immediate shutdown loses no commit PostgreSQL
 * acknowledged (the suite's cluster turns it off for speed).
 */

let cluster: PostgresCluster | undefined
beforeAll(async () => {
  cluster = await startPostgresCluster({ synchronousCommit: true })
}, 60_000)
afterAll(async () => {
  await cluster?.stop()
})
afterEach(async () => {
  await cleanupServers()
})

/** A database of its own on this file's cluster (the cluster, and every database on it, goes at the end). */
async function freshDatabase(): Promise<string> {
  const name = `afb_restart_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client(cluster?.adminUrl)
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(cluster?.adminUrl ?? '')
  url.pathname = `/${name}`
  return url.toString()
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it holds; fails naming `what` after `ms`. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`)
    await sleep(20)
  }
}

const readyz = async (server: RunningServer) => (await sendJson(server.url, 'GET', '/readyz')).status

interface Answer {
  /** the Idempotency-Key of a POST /issues, or the workflow a commit was asked for */
  of: string
  status: number
  contentType: unknown
  type: unknown
  retryAfter: unknown
  body: Record<string, unknown>
  phase: 'up' | 'down' | 'back'
}

/** The issue types other than the sample's (high_churn, the ingest load's): one workflow of each is committed during the restart. */
const COMMITTED_TYPES = ['revenue_drop', 'abandoned_carts', 'payment_failures', 'low_conversion', 'error_spike']

describe.each(['fast', 'immediate'] as const)('PostgreSQL restarted with a %s shutdown under load', (mode) => {
  it(`when PostgreSQL is shut down (${mode}) and started again while two instances take keyed POSTs and commits, then 2xx or 503 store-unavailable with retry-after (never a 500), /readyz 503 then 200, every 201 stored once, every commit on the linear remote once, full service after on every instance, and no instance died or logged an unhandled error`, async () => {
    const databaseUrl = await freshDatabase()
    // grouping on, and a dedup_key of its own per POST: each takes a group lock (an advisory lock, on the session that the restart ends too) and makes a workflow
    const { servers, remote } = await startInstances(2, databaseUrl, { GROUP_WINDOW: '24h' })
    const post = (server: RunningServer, key: string, type?: string) => postIssue(server, key, type, { dedup_key: key })
    const toCommit: string[] = []
    for (const type of COMMITTED_TYPES) toCommit.push(String((await post(servers[0]!, `to-commit-${type}`, type)).body.workflow_id))

    const posts: Answer[] = []
    const commits: Answer[] = []
    const failures: string[] = []
    let phase: Answer['phase'] = 'up'
    let stop = false
    const ask = async (into: Answer[], of: string, request: () => ReturnType<typeof sendJson>, server: RunningServer): Promise<Answer | undefined> => {
      const sentIn = phase
      try {
        const res = await request()
        const answer = { of, status: res.status, contentType: res.headers['content-type'], type: res.body.type, retryAfter: res.headers['retry-after'], body: res.body, phase: sentIn }
        into.push(answer)
        return answer
      } catch (err) {
        // no answer at all (a reset, a hang): the instance died or stopped serving
        failures.push(`${of} on ${server.url}: ${(err as Error).message}`)
        return undefined
      }
    }
    // three callers per instance, each key sent once; after a refusal a short pause, as a client backs off
    let n = 0
    const load = Promise.all(
      servers.flatMap((server) =>
        Array.from({ length: 3 }, async () => {
          while (!stop) {
            const key = `restart-${n++}`
            const answer = await ask(posts, key, () => post(server, key), server)
            if (answer?.status !== 201) await sleep(20)
          }
        }),
      ),
    )
    const count = (status: number, inPhase: Answer['phase']) => posts.filter((a) => a.status === status && a.phase === inPhase).length
    // and one caller committing the five workflows one after another, each until it is in (a 503 is retried, as its retry-after asks)
    const committing = (async () => {
      await until('10 POSTs stored before the first commit', () => count(201, 'up') >= 10)
      for (const [i, id] of toCommit.entries()) {
        for (let attempt = 0; ; attempt++) {
          if (attempt === 300) throw new Error(`the commit of ${id} was refused 300 times`)
          const server = servers[(i + attempt) % servers.length]!
          const answer = await ask(commits, id, () => sendJson(server.url, 'POST', '/commits', {}, { workflow_id: id, dry_run: false }), server)
          if (answer?.status === 201 || answer?.status === 200) break
          await sleep(50)
        }
        await sleep(100)
      }
    })()
    try {
      await until('20 POSTs stored before the restart', () => count(201, 'up') >= 20)
      await cluster!.shutDown(mode)
      phase = 'down'
      await until('refusals while PostgreSQL is down', () => count(503, 'down') >= 10)
      for (const server of servers) expect(await readyz(server), `${server.url} /readyz while PostgreSQL is down`).toBe(503)
      await cluster!.startAgain()
      phase = 'back'
      for (const server of servers) await until(`${server.url} /readyz 200 after the restart`, async () => (await readyz(server)) === 200)
      await until('20 POSTs stored after the restart', () => count(201, 'back') >= 20)
      await committing
    } finally {
      stop = true
      await load
      await committing.catch(() => undefined)
    }

    expect(failures).toEqual([])
    const logs = servers.flatMap(unhandledErrors).join('\n').slice(0, 3000)
    expect([...posts, ...commits].filter((a) => ![200, 201, 503].includes(a.status)), logs).toEqual([])
    expect(posts.filter((a) => a.status === 200)).toEqual([])
    for (const refused of [...posts, ...commits].filter((a) => a.status === 503)) {
      expect(refused.contentType, refused.of).toMatch(/^application\/problem\+json/)
      expect(refused.type, refused.of).toMatch(/:store-unavailable$/)
      expect(Number(refused.retryAfter), `${refused.of}: retry-after`).toBeGreaterThan(0)
    }
    // a commit is answered 200 only when a refused attempt had pushed it already: then the retry finds it on the remote
    for (const unchanged of commits.filter((a) => a.status === 200)) expect(unchanged.body, unchanged.of).toMatchObject({ status: 'unchanged' })

    // full service after: a new POST and a real commit on every instance
    const after: string[] = []
    for (const [i, server] of servers.entries()) {
      const res = await post(server, `after-${i}`)
      expect(res.status, JSON.stringify(res.body)).toBe(201)
      after.push(String(res.body.workflow_id))
    }
    for (const [i, server] of servers.entries()) {
      const res = await sendJson(server.url, 'POST', '/commits', {}, { workflow_id: after[i], dry_run: false })
      expect(res.status, JSON.stringify(res.body)).toBe(201)
    }
    // every commit is on the remote exactly once (a retried one was not made twice), on a linear history
    const history = await linearHistory(remote)
    expect(history).toHaveLength(1 + toCommit.length + after.length)
    for (const server of servers) {
      for (const id of toCommit) {
        const record = (await sendJson(server.url, 'GET', `/workflows/${id}`)).body as { status: string; commit?: { sha: string } }
        expect(record.status, id).toBe('committed')
        expect(history, id).toContain(record.commit?.sha)
      }
    }

    // every key sent again, on the other instance: a 201 is replayed with its workflow; a refused key is made now,
    // replayed (its transaction committed as the connection broke), or still claimed by the request the outage cut off
    const stored = new Set<string>([...toCommit, ...after])
    for (const [i, sent] of posts.entries()) {
      const res = await post(servers[(i + 1) % servers.length]!, sent.of)
      if (sent.status === 201) {
        expect(res.status, sent.of).toBe(201)
        expect(res.body.workflow_id, sent.of).toBe(sent.body.workflow_id)
      } else if (res.status === 409) {
        expect(res.body.type, sent.of).toMatch(/idempotency-in-progress$/)
      } else {
        expect(res.status, `${sent.of}: ${JSON.stringify(res.body)}`).toBe(201)
      }
      if (res.status === 201) stored.add(String(res.body.workflow_id))
    }
    // nothing acknowledged is lost, nothing is stored twice: the database holds exactly the workflows the answers name
    const client = new pg.Client(databaseUrl)
    await client.connect()
    const rows = await client.query<{ id: string }>('SELECT id FROM workflows').finally(() => client.end())
    expect(new Set(rows.rows.map((r) => r.id))).toEqual(stored)
    expect(rows.rows).toHaveLength(stored.size)

    for (const server of servers) {
      expect((await sendJson(server.url, 'GET', '/audit/verify?full=true')).body, server.url).toMatchObject({ ok: true, problems: [] })
      expect(((await sendJson(server.url, 'GET', '/status')).body.workflows as { total: number }).total, server.url).toBe(stored.size)
      expect(server.child.exitCode, server.url).toBeNull()
      expect(server.child.signalCode, server.url).toBeNull()
      expect(unhandledErrors(server), server.url).toEqual([])
      expect(server.stderr(), server.url).not.toMatch(/Unhandled|uncaught|\n\s+at /i)
    }
  }, 120_000)
})
