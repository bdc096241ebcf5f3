import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity } from '../helpers/app.js'
import { filesInCommit, git } from '../helpers/git.js'
import { cleanupServers, send, ServerStartError, startServer, tempDir, type Answer, type RunningServer } from '../helpers/server.js'

/**
 * Crash safety of the real process (issue 4, item 6): SIGKILL under POST /issues load, SIGKILL in
 * the middle of a real commit, idempotency keys across restarts, and the interrupted-commit
 * recovery at start-up.
 */

afterEach(cleanupServers)

const INTENT_FILE = path.join('.git', 'auto-feature-builder-commit.json')
// the load test sends far more than the default 300 requests a minute from one IP
const NO_RATE_LIMIT = { RATE_LIMIT_MAX: '1000000' }

async function getJson(base: string, urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await send(base, 'GET', urlPath)
  return { status: res.status, body: JSON.parse(res.text) as Record<string, unknown> }
}

async function postJson(base: string, urlPath: string, body: object, headers: Record<string, string> = {}) {
  const res = await send(base, 'POST', urlPath, headers, JSON.stringify(body))
  return { ...res, body: JSON.parse(res.text) as Record<string, unknown> }
}

/** Runs `fn` over `items` with at most `width` calls at a time. */
async function eachLimited<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T)
    }),
  )
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function sigkill(server: RunningServer): Promise<void> {
  server.child.kill('SIGKILL')
  expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' })
}

const porcelain = (repo: string) => git(repo, 'status', '--porcelain', '--untracked-files=all')
const branchHead = async (repo: string) => (await git(repo, 'rev-parse', 'refs/heads/main')).trim()

/** The pino lines the child printed, parsed. */
function logLines(server: RunningServer): Array<Record<string, unknown>> {
  return server
    .logs()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })
}

// 90 s bounds a hang only: two server processes and a killed commit took 19–24 s on a loaded 2-CPU machine
describe('crash safety of the real process', { timeout: 90_000 }, () => {
  it('when a server under concurrent keyed POST /issues load is killed with SIGKILL, then after a restart every 201 is a stored workflow with its audit entry, the chain verifies, and retrying each unanswered key creates exactly one workflow', async () => {
    const CLIENTS = 8
    const LOAD_MS = 1_200
    const dataDir = tempDir()
    const first = await startServer({ DATA_DIR: dataDir, ...NO_RATE_LIMIT })

    interface Outcome {
      requestId: string
      description: string
      answer?: Answer
      error?: string
    }
    const outcomes: Outcome[] = []
    let killed = false
    const client = async (c: number) => {
      for (let i = 0; !killed; i++) {
        const requestId = `crash-load-c${c}-${i}`
        const description = `load client ${c} request ${i}`
        try {
          const answer = await send(first.url, 'POST', '/issues', { 'x-request-id': requestId, 'idempotency-key': requestId }, JSON.stringify({ ...sampleOpportunity, description }))
          outcomes.push({ requestId, description, answer })
        } catch (err) {
          outcomes.push({ requestId, description, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message })
        }
      }
    }
    const load = Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)))
    await new Promise((r) => setTimeout(r, LOAD_MS))
    killed = true // clients start no new request; the ones in flight meet the kill
    await sigkill(first)
    await load

    const created = outcomes.filter((o) => o.answer?.status === 201)
    const interrupted = outcomes.filter((o) => o.error !== undefined)
    // every request the server answered was a 201 (no 429, no 5xx such as SQLITE_BUSY under load) …
    expect(outcomes.filter((o) => o.answer && o.answer.status !== 201).map((o) => ({ id: o.requestId, status: o.answer?.status, body: o.answer?.text }))).toEqual([])
    // … and only the request each client had in flight at the kill went unanswered
    expect(interrupted.length).toBeLessThanOrEqual(CLIENTS)
    expect(created.length).toBeGreaterThan(20)

    const second = await startServer({ DATA_DIR: dataDir, ...NO_RATE_LIMIT })

    await eachLimited(created, 8, async (o) => {
      const answered = JSON.parse(o.answer?.text ?? '') as Record<string, unknown>
      const id = answered.workflow_id as string
      expect(answered).toMatchObject({ status: 'generated', opportunity: { description: o.description } })
      expect(o.answer?.headers.location).toBe(`/workflows/${id}`)

      const stored = await getJson(second.url, `/workflows/${id}`)
      expect(stored.status, `GET /workflows/${id} (${o.requestId})`).toBe(200)
      expect(stored.body).toEqual(answered)

      const audit = await getJson(second.url, `/audit?workflow_id=${id}&operation=issue.create`)
      expect(audit.status).toBe(200)
      expect(audit.body.items, `audit entry of ${o.requestId}`).toEqual([
        expect.objectContaining({ request_id: o.requestId, method: 'POST', path: '/issues', status: 201, operation: 'issue.create', workflow_id: id }),
      ])
    })

    const status = await getJson(second.url, '/status')
    const total = (status.body.workflows as { total: number }).total
    // requests cut off by the kill may or may not have been stored, but nothing else was
    expect(total).toBeGreaterThanOrEqual(created.length)
    expect(total).toBeLessThanOrEqual(created.length + interrupted.length)

    const verify = await getJson(second.url, '/audit/verify')
    expect(verify.status).toBe(200)
    expect(verify.body).toMatchObject({ ok: true })
    expect(verify.body.entries).toBeGreaterThanOrEqual(created.length)

    // The sender retries what it never got an answer for, with the same key: a request the kill cut
    // off after its workflow was stored replays it, one cut off before creates it — never both.
    for (const o of interrupted) {
      const retry = await send(second.url, 'POST', '/issues', { 'idempotency-key': o.requestId }, JSON.stringify({ ...sampleOpportunity, description: o.description }))
      expect(retry.status, `retry of ${o.requestId}: ${retry.text}`).toBe(201)
    }
    const afterRetries = ((await getJson(second.url, '/status')).body.workflows as { total: number }).total
    expect(afterRetries).toBe(created.length + interrupted.length)

    console.info(`[crash under load] ${outcomes.length} requests: ${created.length} × 201, ${interrupted.length} cut off by SIGKILL (${[...new Set(interrupted.map((o) => o.error))].join(', ') || 'none'}), ${total} workflows stored; after keyed retries ${afterRetries}`)
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'when an Idempotency-Key was answered before a %s and restart, then the same key and body replay the stored answer and a different body is 422',
    async (signal) => {
      const dataDir = tempDir()
      const first = await startServer({ DATA_DIR: dataDir })
      const original = await postJson(first.url, '/issues', sampleOpportunity, { 'idempotency-key': 'k1' })
      expect(original.status).toBe(201)
      expect(original.headers['idempotent-replayed']).toBeUndefined()
      if (signal === 'SIGTERM') expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null })
      else await sigkill(first)

      const second = await startServer({ DATA_DIR: dataDir })
      const replay = await postJson(second.url, '/issues', sampleOpportunity, { 'idempotency-key': 'k1' })
      expect(replay.status).toBe(201)
      expect(replay.headers['idempotent-replayed']).toBe('true')
      expect(replay.headers.location).toBe(original.headers.location)
      expect(replay.text).toBe(original.text)

      const list = await getJson(second.url, '/workflows')
      expect(list.status).toBe(200)
      expect((list.body.items as Array<{ workflow_id: string }>).map((w) => w.workflow_id)).toEqual([original.body.workflow_id])

      const reused = await postJson(second.url, '/issues', { ...sampleOpportunity, description: 'a different notification' }, { 'idempotency-key': 'k1' })
      expect(reused.status).toBe(422)
      expect(reused.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(reused.body).toMatchObject({ status: 422, title: 'Idempotency-Key reused' })
      expect((await getJson(second.url, '/workflows')).body.items).toHaveLength(1)

      expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    },
  )

  it('when the server is killed with SIGKILL while a real commit runs its pre-commit hook, then after a restart the repository is at the old head, clean and unlocked, and the commit can be made', async () => {
    const dataDir = tempDir()
    // the service's scratch folder (private index) of the killed commit is left behind: keep it in a folder we remove
    const env = { DATA_DIR: dataDir, TMPDIR: tempDir('afb-e2e-tmp-') }
    const repo = path.join(dataDir, 'repo')
    const first = await startServer(env)
    const created = await postJson(first.url, '/issues', sampleOpportunity)
    expect(created.status).toBe(201)
    const id = created.body.workflow_id as string
    const generated = (created.body.files as Array<{ path: string }>).map((f) => f.path).sort()
    expect(generated).toHaveLength(5)
    const oldHead = await branchHead(repo)

    // a slow pre-commit hook holds the commit mid-way; it records its runs outside the work tree
    const hookLog = path.join(tempDir(), 'hook.log')
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit')
    mkdirSync(path.dirname(hook), { recursive: true })
    // it goes on only when the test says so (or after 20 s, so an orphan never lingers): killed mid-way, however slow the machine
    const proceed = path.join(path.dirname(hookLog), 'proceed')
    writeFileSync(hook, `#!/bin/sh\necho start >> '${hookLog}'\ni=0\nwhile [ ! -f '${proceed}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\necho end >> '${hookLog}'\n`)
    chmodSync(hook, 0o755)
    const hookRuns = (word: string) => (existsSync(hookLog) ? readFileSync(hookLog, 'utf8').split('\n').filter((l) => l === word).length : 0)

    const commit = postJson(first.url, '/commits', { workflow_id: id, dry_run: false }).then(
      (res) => ({ status: res.status }),
      (err: unknown) => ({ error: (err as NodeJS.ErrnoException).code ?? String(err) }),
    )
    await waitFor('the pre-commit hook to start', () => hookRuns('start') === 1)
    expect(hookRuns('end')).toBe(0) // the commit is still mid-way
    await sigkill(first)
    expect(await commit).toEqual({ error: 'ECONNRESET' })
    writeFileSync(proceed, '') // the hook may end now, as a slow hook would have ended by itself

    const second = await startServer(env)
    // the orphaned hook (git hook run → sh → sleep) outlives the server; let it finish before looking
    await waitFor('the orphaned pre-commit hook to end', () => hookRuns('end') === 1)

    const head = await branchHead(repo)
    if (head !== oldHead) {
      expect((await git(repo, 'rev-parse', `${head}^`)).trim()).toBe(oldHead)
      expect(await filesInCommit(repo, head)).toEqual(generated)
    }
    expect(head).toBe(oldHead) // killed inside the hook: the branch never moved
    expect(await porcelain(repo)).toBe('')
    for (const file of generated) expect(existsSync(path.join(repo, file)), file).toBe(false)
    expect(existsSync(path.join(repo, '.git', 'index.lock'))).toBe(false)
    expect(existsSync(path.join(repo, INTENT_FILE))).toBe(false)
    expect((await getJson(second.url, '/readyz')).status).toBe(200)
    expect((await getJson(second.url, `/workflows/${id}`)).body.status).toBe('generated')

    const retry = await postJson(second.url, '/commits', { workflow_id: id, dry_run: false })
    expect([200, 201]).toContain(retry.status)
    const newHead = await branchHead(repo)
    if (retry.status === 201) {
      expect(retry.body).toMatchObject({ workflow_id: id, dry_run: false, commit: { sha: newHead, parent: head, branch: 'main' } })
      expect((await git(repo, 'rev-parse', `${newHead}^`)).trim()).toBe(oldHead)
    } else {
      expect(retry.body).toMatchObject({ status: 'unchanged', head: newHead })
    }
    expect(await filesInCommit(repo, newHead)).toEqual(generated)
    expect(await porcelain(repo)).toBe('')
    expect(existsSync(path.join(repo, INTENT_FILE))).toBe(false)
    expect((await getJson(second.url, `/workflows/${id}`)).body).toMatchObject({ status: 'committed', commit: { sha: newHead, branch: 'main' } })
    expect(hookRuns('end')).toBe(2)

    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  describe('start-up recovery of an interrupted commit (the crash window simulated with git, no server running)', () => {
    /** A service-made repository holding one generated workflow; the server is stopped again. */
    async function stoppedServiceWithWorkflow() {
      const dataDir = tempDir()
      const server = await startServer({ DATA_DIR: dataDir })
      const created = await postJson(server.url, '/issues', sampleOpportunity)
      expect(created.status).toBe(201)
      const id = created.body.workflow_id as string
      const preview = await getJson(server.url, `/workflows/${id}/preview`)
      expect(preview.status).toBe(200)
      const files = (preview.body.changes as Array<{ path: string; content: string }>).map(({ path: p, content }) => ({ path: p, content }))
      expect(files).toHaveLength(5)
      expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
      const repo = path.join(dataDir, 'repo')
      return { dataDir, repo, id, files, oldHead: await branchHead(repo) }
    }

    /** The commit the service would make: exactly `files` on top of `parent`, built in a side worktree. */
    async function commitInSideWorktree(repo: string, parent: string, files: Array<{ path: string; content: string }>): Promise<string> {
      const side = path.join(tempDir(), 'side')
      await git(repo, 'worktree', 'add', '--detach', side, parent)
      for (const file of files) {
        mkdirSync(path.dirname(path.join(side, file.path)), { recursive: true })
        writeFileSync(path.join(side, file.path), file.content)
      }
      await git(side, 'add', '--', ...files.map((f) => f.path))
      await git(side, 'commit', '--no-verify', '-m', 'Interrupted commit (test)')
      const sha = (await git(side, 'rev-parse', 'HEAD')).trim()
      await git(repo, 'worktree', 'remove', '--force', side)
      return sha
    }

    it('when the branch was moved but the work tree not yet synced, then the next start finishes the commit (files in the work tree, status clean, intent file gone, a warning logged) and a retried commit records it on the workflow', async () => {
      const { dataDir, repo, id, files, oldHead } = await stoppedServiceWithWorkflow()
      const sha = await commitInSideWorktree(repo, oldHead, files)
      // the crash window: intent written, update-ref done, work tree and index not yet brought along
      writeFileSync(path.join(repo, INTENT_FILE), JSON.stringify({ branch: 'main', from: oldHead, to: sha, checkedOut: true, files }))
      await git(repo, 'update-ref', 'refs/heads/main', sha, oldHead)
      const paths = files.map((f) => f.path).sort()
      // what a person would see without recovery: the commit looks reverted (staged deletions)
      expect((await porcelain(repo)).split('\n').filter(Boolean).sort()).toEqual(paths.map((p) => `D  ${p}`))

      const server = await startServer({ DATA_DIR: dataDir })
      expect(await branchHead(repo)).toBe(sha)
      for (const file of files) expect(readFileSync(path.join(repo, file.path), 'utf8'), file.path).toBe(file.content)
      expect(await porcelain(repo)).toBe('')
      expect(existsSync(path.join(repo, INTENT_FILE))).toBe(false)
      expect(existsSync(path.join(repo, '.git', 'index.lock'))).toBe(false)
      expect(logLines(server)).toContainEqual(
        expect.objectContaining({ level: 40, recovery: 'completed', msg: expect.stringContaining('interrupted') as unknown }),
      )
      expect((await getJson(server.url, '/readyz')).status).toBe(200)

      // the store never heard of the commit (the process died before markCommitted); the sender's
      // retry finds the branch already holding the files and records the commit that made them
      const retry = await postJson(server.url, '/commits', { workflow_id: id, dry_run: false })
      expect(retry.status).toBe(200)
      expect(retry.body).toMatchObject({ status: 'unchanged', workflow_id: id, head: sha, branch: 'main' })
      expect(await branchHead(repo)).toBe(sha)
      expect((await getJson(server.url, `/workflows/${id}`)).body).toMatchObject({ status: 'committed', commit: { sha, branch: 'main' } })
      expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    })

    it('when the intent file is damaged (a write cut short), then start-up stops with a message naming the file and what to do, and keeps the file', async () => {
      const { dataDir, repo, oldHead } = await stoppedServiceWithWorkflow()
      const intentFile = path.join(repo, INTENT_FILE)
      writeFileSync(intentFile, `{"branch":"main","from":"${oldHead}","to":"`)

      const failed = await startServer({ DATA_DIR: dataDir }).then(
        () => null,
        (err: unknown) => err,
      )

      expect(failed).toBeInstanceOf(ServerStartError)
      const { exit, stderr } = failed as ServerStartError
      expect(exit).toEqual({ code: 1, signal: null })
      expect(stderr).toContain(`auto-feature-builder cannot start: ${intentFile} is damaged (not JSON: `)
      expect(stderr).toContain(`Check that \`git -C ${repo} status\` shows none of the generated files as changed, then remove ${intentFile} and start again.`)
      expect(readFileSync(intentFile, 'utf8')).toBe(`{"branch":"main","from":"${oldHead}","to":"`)
      expect(await branchHead(repo)).toBe(oldHead)

      rmSync(intentFile) // what the message says to do
      const server = await startServer({ DATA_DIR: dataDir })
      expect((await getJson(server.url, '/readyz')).status).toBe(200)
      expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    })

    it('when the intent file was written but the branch never moved, then the next start discards it and leaves branch and work tree as they were', async () => {
      const { dataDir, repo, files, oldHead } = await stoppedServiceWithWorkflow()
      const sha = await commitInSideWorktree(repo, oldHead, files)
      writeFileSync(path.join(repo, INTENT_FILE), JSON.stringify({ branch: 'main', from: oldHead, to: sha, checkedOut: true, files }))

      const server = await startServer({ DATA_DIR: dataDir })
      expect(await branchHead(repo)).toBe(oldHead)
      for (const file of files) expect(existsSync(path.join(repo, file.path)), file.path).toBe(false)
      expect(await porcelain(repo)).toBe('')
      expect(existsSync(path.join(repo, INTENT_FILE))).toBe(false)
      expect(logLines(server)).toContainEqual(expect.objectContaining({ level: 40, recovery: 'discarded' }))
      expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    })
  })
})
