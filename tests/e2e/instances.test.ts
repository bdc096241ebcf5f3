import { readFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { linearHistory, postIssue, sendJson, startInstances, unhandledErrors, type JsonAnswer } from '../helpers/instances.js'
import { git } from '../helpers/git.js'
import { freshPostgres, type FreshPostgres } from '../helpers/postgres.js'
import { cleanupServers, type RunningServer } from '../helpers/server.js'

/**
 * Several real service processes on one PostgreSQL and one bare remote (the scale-out issue):
 * keyed ingest sent to every instance at once, commits from different instances at once, a
 * SIGKILL of one instance under load, and identical KPI snapshots spread over the instances —
 * each with two instances and with three.
 */

let database: FreshPostgres | undefined
afterEach(async () => {
  await cleanupServers()
  await database?.drop()
  database = undefined
})

async function instances(count: number, env: Record<string, string> = {}) {
  database = await freshPostgres()
  return startInstances(count, database.url, env)
}

/** Every issue type: each writes files of its own (workflows/<type>_…), so commits of different types never touch one path. */
const ISSUE_TYPES = ['high_churn', 'revenue_drop', 'abandoned_carts', 'payment_failures', 'low_conversion', 'error_spike']

const commit = (server: RunningServer, workflowId: string) => sendJson(server.url, 'POST', '/commits', {}, { workflow_id: workflowId, dry_run: false })

/** Every instance verifies the whole chain, and counts the same workflows. */
async function expectOneStore(servers: RunningServer[], workflows: number): Promise<void> {
  for (const server of servers) {
    expect((await sendJson(server.url, 'GET', '/audit/verify?full=true')).body, server.url).toMatchObject({ ok: true, problems: [] })
    expect(((await sendJson(server.url, 'GET', '/status')).body.workflows as { total: number }).total, server.url).toBe(workflows)
  }
}

// three service processes, git and PostgreSQL on a loaded two-CPU machine take longer than the suite's 30 s
describe.each([2, 3])('%i instances on one PostgreSQL and one remote', { timeout: 90_000 }, (n) => {
  it(`when each Idempotency-Key is sent to all ${n} instances at once, then each key makes one workflow, the other callers get the replay or a 409, and one chain verifies on each`, async () => {
    const { servers } = await instances(n)
    const keys = Array.from({ length: 30 }, (_, i) => `shared-${i}`)
    const answers = await Promise.all(keys.map(async (key) => ({ key, all: await Promise.all(servers.map((server) => postIssue(server, key))) })))
    const workflowIds = new Set<string>()
    for (const { key, all } of answers) {
      const created = all.filter((r) => r.status === 201)
      expect(created.length, `${key}: ${all.map((r) => r.status).join(', ')}`).toBeGreaterThanOrEqual(1)
      for (const r of all) expect([201, 409]).toContain(r.status)
      // a second 201 is the replay of the first, never a second workflow
      expect(new Set(created.map((r) => r.body.workflow_id)).size).toBe(1)
      workflowIds.add(String(created[0]?.body.workflow_id))
    }
    expect(workflowIds.size).toBe(keys.length)
    await expectOneStore(servers, keys.length)
    // the POSTs, whichever instance wrote them, are all in one chain
    const verified = await sendJson(servers[n - 1]!.url, 'GET', '/audit/verify?full=true')
    expect(verified.body.entries).toBeGreaterThanOrEqual(n * keys.length)
  })

  it(`when ${n} instances commit different workflows at once, then the remote gets ${n} linear commits, every answer is 201, and each instance reads every commit`, async () => {
    const { servers, remote } = await instances(n)
    const ids: string[] = []
    for (const [i, server] of servers.entries()) ids.push((await postIssue(server, `c-${i}`, ISSUE_TYPES[i])).body.workflow_id as string)
    const answers = await Promise.all(servers.map((server, i) => commit(server, ids[i]!)))
    expect(answers.map((r) => r.status)).toEqual(servers.map(() => 201))
    const history = await linearHistory(remote)
    expect(history).toHaveLength(n + 1) // start, and one commit per instance
    const shas = answers.map((r) => (r.body.commit as { sha: string }).sha)
    expect(new Set(shas)).toEqual(new Set(history.slice(0, n)))
    // every instance reads every workflow as committed, with the sha its committer answered: the database is shared
    for (const server of servers) {
      for (const [i, id] of ids.entries()) expect((await sendJson(server.url, 'GET', `/workflows/${id}`)).body).toMatchObject({ status: 'committed', commit: { sha: shas[i] } })
    }
  })

  it(`when one of ${n} instances is killed with SIGKILL under keyed load and commits, then every 201 is stored once, a retry on a survivor replays it or makes it once, every commit is on the linear remote once, and the chain verifies`, async () => {
    const { servers, remote } = await instances(n)
    const [victim, ...survivors] = servers as [RunningServer, ...RunningServer[]]
    // keys spread over every instance, at least 60, and more until the kill: it always comes under load
    const keys: { key: string; type: string; to: RunningServer }[] = []
    let victimKilled = false
    const answered = new Map<string, string>()
    // the first workflow of each type is committed while the load goes on, by the instances in turn, the victim first
    const toCommit: { id: string; type: string }[] = []
    const committed = new Map<string, string>()
    let ingesting = true
    /** the victim's commit: the kill comes as soon as its push lands, before the victim records it (or once it ended otherwise) */
    let victimCommit: { files: string; ended: boolean } | undefined
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    const remoteHead = () => {
      try {
        return readFileSync(path.join(remote, 'refs', 'heads', 'main'), 'utf8').trim()
      } catch {
        return '' // being replaced right now
      }
    }
    // the kill comes once ten keys have their 201 and the victim's commit is on the remote, while other POSTs are in flight
    const killed = (async () => {
      for (let seen = ''; ; await sleep(1)) {
        if (answered.size < 10 || !victimCommit) continue
        if (victimCommit.ended) break
        const head = remoteHead()
        if (head === seen || head === '') continue
        seen = head
        if ((await git(remote, 'ls-tree', '--name-only', head, '--', victimCommit.files)).trim() !== '') break
      }
      victim.child.kill('SIGKILL')
      victimKilled = true
    })()
    const ingest = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!victimKilled || keys.length < 60) {
          const i = keys.length
          const next = { key: `kill-${i}`, type: ISSUE_TYPES[i % ISSUE_TYPES.length]!, to: servers[i % n]! }
          keys.push(next)
          try {
            const res = await postIssue(next.to, next.key, next.type)
            if (res.status !== 201) continue
            answered.set(next.key, String(res.body.workflow_id))
            if (!toCommit.some((c) => c.type === next.type)) toCommit.push({ id: String(res.body.workflow_id), type: next.type })
          } catch {
            // cut off by the kill (or refused after it): the retry below decides
          }
        }
      }),
    ).finally(() => (ingesting = false))
    const commitQueue = [...Array(ISSUE_TYPES.length).keys()]
    const commits = Promise.all(
      Array.from({ length: 2 }, async () => {
        for (let turn = commitQueue.shift(); turn !== undefined; turn = commitQueue.shift()) {
          while (toCommit.length <= turn && ingesting) await sleep(5)
          const { id, type } = toCommit[turn] ?? {}
          if (id === undefined) return
          const onVictim = turn === 0
          if (onVictim) victimCommit = { files: `workflows/${type}_workflow.json`, ended: false }
          try {
            const res = await commit(servers[turn % n]!, id)
            if (res.status === 201) committed.set(id, (res.body.commit as { sha: string }).sha)
          } catch {
            // cut off by the kill: the retry below decides
          } finally {
            if (onVictim && victimCommit) victimCommit.ended = true
          }
        }
      }),
    )
    await Promise.all([ingest, commits, killed])
    await victim.exited
    expect(answered.size).toBeGreaterThan(0)

    const stored = new Set<string>()
    let inFlight = 0
    for (const [i, { key, type }] of keys.entries()) {
      const res = await postIssue(survivors[i % survivors.length]!, key, type)
      const before = answered.get(key)
      if (before) {
        expect(res.status, key).toBe(201)
        expect(res.body.workflow_id, `${key} was answered 201 before the kill`).toBe(before)
      } else if (res.status === 409) {
        // claimed by a request the kill cut off: the key stays "running" until its lease ends (ABANDONED_AFTER_MS)
        expect(res.body.type).toMatch(/idempotency-in-progress$/)
        inFlight++
      } else {
        expect(res.status, key).toBe(201)
      }
      if (res.status === 201) stored.add(String(res.body.workflow_id))
    }
    expect(inFlight).toBeLessThan(keys.length - answered.size + 1)

    // a commit the kill cut off is made now, or found on the remote (pushed before the kill) and recorded; one answered 201 is unchanged
    for (const [i, { id }] of toCommit.entries()) {
      const res = await commit(survivors[i % survivors.length]!, id)
      if (committed.has(id)) expect(res.body, id).toMatchObject({ status: 'unchanged' })
      else expect([200, 201], `${id}: ${JSON.stringify(res.body)}`).toContain(res.status)
      if (res.status === 201) committed.set(id, (res.body.commit as { sha: string }).sha)
    }
    const history = await linearHistory(remote)
    // each workflow committed exactly once: no commit made twice by a retry
    expect(history).toHaveLength(toCommit.length + 1)
    for (const server of survivors) {
      for (const { id } of toCommit) {
        const record = (await sendJson(server.url, 'GET', `/workflows/${id}`)).body as { status: string; commit?: { sha: string } }
        expect(record.status, id).toBe('committed')
        expect(history).toContain(record.commit?.sha)
        if (committed.has(id)) expect(record.commit?.sha).toBe(committed.get(id))
      }
    }
    // nothing acknowledged is lost, nothing is stored twice
    await expectOneStore(survivors, stored.size)
    for (const server of survivors) expect(unhandledErrors(server)).toEqual([])
  })

  it(`when 20 identical KPI snapshots are spread over ${n} instances at once, then exactly one workflow stands for all 20: one 201, nineteen 200s naming it, and the chain verifies`, async () => {
    const { servers } = await instances(n, { GROUP_WINDOW: '24h' })
    const snapshot = { source: 'make', metrics: { cart_abandonment_rate: 0.27 } }
    const answers: JsonAnswer[] = await Promise.all(Array.from({ length: 20 }, (_, i) => sendJson(servers[i % n]!.url, 'POST', '/kpis', {}, snapshot)))
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(19).fill(200), 201])
    const detections = answers.map((a) => (a.body.workflows as { workflow_id: string; outcome: string; grouped: boolean }[])[0])
    const id = detections.find((d) => d?.outcome === 'created')?.workflow_id
    expect(detections.map((d) => d?.workflow_id)).toEqual(Array(20).fill(id))
    expect(detections.filter((d) => d?.outcome === 'grouped' && d.grouped)).toHaveLength(19)
    await expectOneStore(servers, 1)
    for (const server of servers) {
      expect((await sendJson(server.url, 'GET', `/workflows/${id}`)).body).toMatchObject({ status: 'generated', occurrences: { count: 20 } })
    }
    expect(((await sendJson(servers[0]!.url, 'GET', '/audit?operation=kpi.evaluate&limit=100')).body.items as unknown[]).length).toBe(20)
  })
})

// 90 s, as above, bounds a hang only: a server process, its load and an outage take what a loaded machine takes
describe('one instance on a PostgreSQL database closed to connections', { timeout: 90_000 }, () => {
  it('when PostgreSQL drops every connection and refuses new ones under load, then requests are 503 problems (never 500), /readyz says so, and the instance serves again once the database is back', async () => {
    const { servers } = await instances(1)
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
    // each phase lasts until the load has seen what it is about, not a fixed time a loaded machine may not fill
    const answered = (status: number, from: number) => vi.waitFor(() => expect(statuses.slice(from)).toContain(status), { timeout: 20_000, interval: 20 })
    try {
      await answered(201, 0)
      // what a restart looks like from the service: every session ended (57P01), no new one accepted
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
      await answered(503, statuses.length)
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
      await answered(201, statuses.length)
    } finally {
      stop = true
      await load
      await admin.end()
    }
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s !== 201 && s !== 503), unhandledErrors(a).join('\n').slice(0, 3000)).toEqual([])
    expect([...problems].every((type) => type.endsWith(':store-unavailable'))).toBe(true)
    expect((await postIssue(a, 'after-outage')).status).toBe(201)
    expect(a.child.exitCode).toBeNull()
    // the chain has every entry that was acknowledged, and no gap from the outage
    expect((await sendJson(a.url, 'GET', '/audit/verify?full=true')).body).toMatchObject({ ok: true, problems: [] })
    expect(a.stderr()).not.toMatch(/Unhandled|uncaught/i)
  })
})
