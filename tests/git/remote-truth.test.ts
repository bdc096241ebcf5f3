import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { RepositoryError } from '../../src/git/errors.js'
import { RemoteTruthRepository } from '../../src/git/remote-commit.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { filesInCommit, git, treeDigest } from '../helpers/git.js'
import { bareRemote, hook, instance, otherWriter, pushFrom, revParse } from '../helpers/remote.js'

/**
 * GIT_REMOTE_IS_TRUTH: instances with a clone each share one bare remote; a commit is built on the
 * remote's head, pushed without force, and counts only once pushed. Real git, real bare remotes.
 */

let apps: TestApp[] = []
let dirs: string[] = []
afterEach(async () => {
  for (const app of apps) await app.close()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  apps = []
  dirs = []
})

async function setUp(): Promise<{ dir: string; bare: string }> {
  const dir = tempDir('afb-remote-')
  dirs.push(dir)
  return { dir, bare: await bareRemote(dir) }
}

async function start(...args: Parameters<typeof instance>): Promise<TestApp> {
  const app = await instance(...args)
  apps.push(app)
  return app
}

async function newWorkflow(app: TestApp, payload: Record<string, unknown> = {}): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, ...payload } })).json().workflow_id
}
const commit = (app: TestApp, id: string) => app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
const auditOf = async (app: TestApp, id: string) => (await app.app.inject(`/audit?workflow_id=${id}&operation=commit.create`)).json().items[0]
/** Nothing of a refused commit is recorded: the workflow stays generated, and its audit entry names no commit. */
async function expectNothingRecorded(app: TestApp, id: string, status: number): Promise<void> {
  expect((await app.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
  expect(await auditOf(app, id)).toMatchObject({ status, pushed: false, commit_sha: null })
}
/** What the preview says a commit would write: path → content. */
async function previewFiles(app: TestApp, id: string): Promise<Record<string, string>> {
  const changes = (await app.app.inject(`/workflows/${id}/preview`)).json().changes as Array<{ path: string; content: string }>
  return Object.fromEntries(changes.map((c) => [c.path, c.content]))
}
/** Whether `pid` is a live process: a killed one may linger as a zombie until init reaps it. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
/** The first push of `app` lets the racer push its main first, from inside the pre-push hook: the remote moves after this instance fetched. */
function racesFirstPush(app: TestApp, racerRepo: string, dir: string): void {
  const marker = path.join(dir, 'raced')
  hook(path.join(app.config.repoPath, '.git'), 'pre-push', `cat >/dev/null\n[ -e '${marker}' ] && exit 0\ntouch '${marker}'\nclean_git -C '${racerRepo}' push -q origin main`)
}
const HIGH_CHURN_FILES = ['tests/high_churn_workflow.test.ts', 'workflows/high_churn_make_blueprint.json', 'workflows/high_churn_n8n.json', 'workflows/high_churn_prompt_templates.json', 'workflows/high_churn_workflow.json']

describe('a real commit with the remote as the truth', () => {
  it('when the local clone is behind the remote, then the commit is built on the remote head and pushed, and the local branch and work tree follow it', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const repo = t.config.repoPath
    const localBefore = await revParse(repo, 'HEAD')
    const other = await otherWriter(dir, bare, 'colleague', { 'docs/notes.md': 'from a colleague\n' })
    await pushFrom(other.repo)
    const id = await newWorkflow(t)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(201)
    const { sha } = res.json().commit
    expect(res.json()).toMatchObject({ pushed: true, commit: { branch: 'main', parent: other.sha } })
    expect(await revParse(bare, 'refs/heads/main')).toBe(sha)
    expect(await filesInCommit(bare, sha)).toEqual(HIGH_CHURN_FILES)
    // the local clone is a cache of the remote: fast-forwarded over the colleague's commit and ours
    expect(await revParse(repo, 'refs/heads/main')).not.toBe(localBefore)
    expect(await revParse(repo, 'refs/heads/main')).toBe(sha)
    expect(readFileSync(path.join(repo, 'docs/notes.md'), 'utf8')).toBe('from a colleague\n')
    expect(readFileSync(path.join(repo, 'workflows/high_churn_workflow.json'), 'utf8')).toBe((await t.services.store.files(id))?.[0]?.content)
    expect(await git(repo, 'status', '--porcelain', '--untracked-files=all')).toBe('')
    expect(existsSync(path.join(repo, '.git', 'auto-feature-builder-commit.json'))).toBe(false)
    expect((await t.app.inject(`/workflows/${id}`)).json()).toMatchObject({ status: 'committed', commit: { sha, branch: 'main' } })
    expect(await auditOf(t, id)).toMatchObject({ status: 201, pushed: true, commit_sha: sha })
  })

  it('when the remote already holds exactly these files (pushed by a process that died before recording it), then 200 unchanged at the remote head, nothing pushed, and the workflow records the commit that wrote them', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const id = await newWorkflow(t)
    const pushed = await otherWriter(dir, bare, 'died-after-push', await previewFiles(t, id))
    await pushFrom(pushed.repo)
    const localBefore = await revParse(t.config.repoPath, 'HEAD')

    const res = await commit(t, id)

    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ status: 'unchanged', head: pushed.sha, branch: 'main' })
    expect(res.json().detail).toContain('origin/main already holds these files')
    expect(await revParse(bare, 'refs/heads/main')).toBe(pushed.sha)
    expect(await revParse(t.config.repoPath, 'HEAD')).toBe(localBefore) // the local branch is merely behind
    expect((await t.app.inject(`/workflows/${id}`)).json()).toMatchObject({ status: 'committed', commit: { sha: pushed.sha, branch: 'main' } })
  })

  it('when another writer pushes between the fetch and the push (the push is refused), then the commit is built again on the new head, once, and the history stays linear', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const racer = await otherWriter(dir, bare, 'racer', { 'docs/racer.md': 'won the race\n' })
    racesFirstPush(t, racer.repo, dir)
    const id = await newWorkflow(t)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(201)
    const { sha, parent } = res.json().commit
    expect(parent).toBe(racer.sha)
    expect(await revParse(bare, 'refs/heads/main')).toBe(sha)
    expect((await git(bare, 'rev-list', '--parents', 'main')).trim().split('\n').map((l) => l.split(' ').length)).toEqual([2, 2, 1]) // ours, the racer's, the first: linear
    expect(await filesInCommit(bare, sha)).toEqual(HIGH_CHURN_FILES)
    expect(await revParse(t.config.repoPath, 'HEAD')).toBe(sha)
    expect(await git(t.config.repoPath, 'status', '--porcelain', '--untracked-files=all')).toBe('')
  })

  it('when another writer pushes right after this instance fetched (the push is refused as "fetch first"), then the commit is built again on the new head', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const racer = await otherWriter(dir, bare, 'racer', { 'docs/racer.md': 'won the race\n' })
    // a `git` first on PATH that, after the first fetch, lets the racer push: this instance then
    // builds on a head the remote no longer has, and git push refuses it before sending anything
    const marker = path.join(dir, 'raced')
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim()
    const bin = path.join(dir, 'racing-git')
    mkdirSync(bin)
    writeFileSync(
      path.join(bin, 'git'),
      `#!/bin/sh\n'${realGit}' "$@"\ncode=$?\ncase " $* " in *" fetch "*) [ -e '${marker}' ] || { touch '${marker}'; env -i PATH=/usr/bin:/bin '${realGit}' -C '${racer.repo}' push -q origin main; } ;; esac\nexit $code\n`,
    )
    chmodSync(path.join(bin, 'git'), 0o755)
    const savedPath = process.env.PATH
    process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ''}`
    let res
    try {
      res = await commit(t, await newWorkflow(t))
    } finally {
      process.env.PATH = savedPath
    }
    expect(res.statusCode).toBe(201)
    expect(existsSync(marker)).toBe(true)
    expect(res.json().commit.parent).toBe(racer.sha)
    expect(await revParse(bare, 'refs/heads/main')).toBe(res.json().commit.sha)
    expect((await git(bare, 'rev-list', '--count', 'main')).trim()).toBe('3')
  })

  it('when the push loses the race a second time (the remote keeps moving, with no conflict), then 503 remote-busy with Retry-After, and nothing is pushed or recorded', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const racer = await otherWriter(dir, bare, 'racer', { 'docs/one.md': 'one\n' })
    writeFileSync(path.join(racer.repo, 'docs/two.md'), 'two\n')
    await git(racer.repo, 'add', 'docs/two.md')
    await git(racer.repo, 'commit', '-m', 'two')
    const second = await revParse(racer.repo, 'HEAD')
    // before each push of this instance, the racer pushes one more commit
    const count = path.join(dir, 'pushes')
    hook(path.join(t.config.repoPath, '.git'), 'pre-push', `cat >/dev/null\necho x >> '${count}'\nn=$(wc -l < '${count}')\n[ "$n" -le 2 ] && clean_git -C '${racer.repo}' push -q origin "HEAD~$((2 - n)):refs/heads/main"\nexit 0`)
    const id = await newWorkflow(t)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:remote-busy', title: 'Remote busy' })
    expect(await revParse(bare, 'refs/heads/main')).toBe(second)
    await expectNothingRecorded(t, id, 503)
  })

  it('when the racing writer changed a path this commit writes, then 409 commit-conflict names the paths and the remote head, nothing is pushed or recorded, and the audit entry says so', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const racer = await otherWriter(dir, bare, 'racer', { 'workflows/high_churn_workflow.json': '{"edited": "by hand"}\n' })
    racesFirstPush(t, racer.repo, dir)
    const id = await newWorkflow(t)
    const localBefore = await revParse(t.config.repoPath, 'HEAD')

    const res = await commit(t, id)

    expect(res.statusCode).toBe(409)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = res.json()
    expect(problem).toMatchObject({ type: 'urn:auto-feature-builder:problem:commit-conflict', title: 'Commit conflict', status: 409, instance: '/commits' })
    expect(problem.type.endsWith('commit-conflict')).toBe(true)
    expect(problem.detail).toContain('workflows/high_churn_workflow.json')
    expect(problem.detail).not.toContain('workflows/high_churn_n8n.json')
    expect(problem.detail).toContain(racer.sha) // the remote head
    expect(problem.detail).toMatch(/Preview the workflow again .* retry the commit/)
    expect(await revParse(bare, 'refs/heads/main')).toBe(racer.sha) // nothing pushed
    expect(await revParse(t.config.repoPath, 'HEAD')).toBe(localBefore)
    expect(await git(t.config.repoPath, 'status', '--porcelain', '--untracked-files=all')).toBe('')
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
    const entry = await auditOf(t, id)
    expect(entry).toMatchObject({ status: 409, dry_run: false, pushed: false, commit_sha: null, workflow_id: id })
    expect(entry.detail).toBe(problem.detail)

    // the preview now shows the remote's content, and a retry (the conflict resolved by replacing it) goes through
    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()
    expect(preview.repository.head).toBe(racer.sha)
    expect(preview.changes[0]).toMatchObject({ path: 'workflows/high_churn_workflow.json', action: 'update' })
    expect(preview.changes[0].diff).toContain('-{"edited": "by hand"}')
    expect((await commit(t, id)).statusCode).toBe(201)
  })

  it('when the remote refuses the push as such (a pre-receive hook), then 409 remote-rejected with its reason, and nothing is recorded', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    hook(bare, 'pre-receive', 'echo "main is frozen" >&2\nexit 1')
    const id = await newWorkflow(t)
    const remoteBefore = await revParse(bare, 'refs/heads/main')

    const res = await commit(t, id)

    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:remote-rejected', title: 'Push rejected by the remote' })
    expect(res.json().detail).toContain('main is frozen')
    expect(await revParse(bare, 'refs/heads/main')).toBe(remoteBefore)
    await expectNothingRecorded(t, id, 409)
  })

  it('when the remote is reached over ssh, then git uses the GIT_SSH_COMMAND the service was started with (a deploy key), as the operations guide says', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const called = path.join(dir, 'ssh-called')
    const fakeSsh = path.join(dir, 'fake-ssh')
    writeFileSync(fakeSsh, `#!/bin/sh\necho "$@" > '${called}'\necho "no route to host" >&2\nexit 255\n`)
    chmodSync(fakeSsh, 0o755)
    await git(t.config.repoPath, 'remote', 'set-url', 'origin', 'ssh://git@example.invalid/team/automations.git')
    const id = await newWorkflow(t)
    const before = process.env.GIT_SSH_COMMAND
    process.env.GIT_SSH_COMMAND = `${fakeSsh} -i /run/secrets/deploy_key`
    try {
      const res = await commit(t, id)
      expect(res.statusCode).toBe(503)
      expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:remote-unavailable' })
    } finally {
      if (before === undefined) delete process.env.GIT_SSH_COMMAND
      else process.env.GIT_SSH_COMMAND = before
    }
    const args = readFileSync(called, 'utf8')
    expect(args).toContain('-i /run/secrets/deploy_key')
    expect(args).toContain('example.invalid')
    expect(args).toContain('git-upload-pack')
  })

  it('when the remote cannot be reached, then 503 remote-unavailable with Retry-After, for the commit and the preview, and nothing is recorded', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const id = await newWorkflow(t)
    await git(t.config.repoPath, 'remote', 'set-url', 'origin', path.join(dir, 'no-such-remote.git'))
    const localBefore = await revParse(t.config.repoPath, 'HEAD')

    const res = await commit(t, id)

    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('30')
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:remote-unavailable', title: 'Remote unavailable', status: 503 })
    expect(res.json().detail).toContain('git fetch from origin failed')
    expect(res.json().detail).toContain('does not appear to be a git repository')
    expect(await revParse(t.config.repoPath, 'HEAD')).toBe(localBefore)
    await expectNothingRecorded(t, id, 503)

    const preview = await t.app.inject(`/workflows/${id}/preview`)
    expect(preview.statusCode).toBe(503)
    expect(preview.headers['retry-after']).toBe('30')
  })

  it('when the remote hangs in a hook, then the push is stopped after GIT_REMOTE_TIMEOUT_MS with everything it started, 503, nothing recorded', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a', { GIT_REMOTE_TIMEOUT_MS: '1500' })
    const pidFile = path.join(dir, 'hook.pid')
    hook(bare, 'pre-receive', `echo $$ > '${pidFile}'\nexec sleep 60`)
    const id = await newWorkflow(t)
    const remoteBefore = await revParse(bare, 'refs/heads/main')

    const res = await commit(t, id)

    // the deadline ended the push, not the hook: the answer names the deadline, and the hook's
    // `sleep 60` is gone below although the test runs for less than a minute (no wall-clock bound)
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('30')
    expect(res.json().detail).toContain('git push to origin failed: git push did not finish within 1500 ms')
    expect(res.json().detail).toContain('may or may not have taken')
    expect(await revParse(bare, 'refs/heads/main')).toBe(remoteBefore)
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
    // the remote's hook was killed with the push (its process group), not left running
    const pid = Number(readFileSync(pidFile, 'utf8'))
    expect(running(pid)).toBe(false)
  })

  it('when the remote holds a folder where this commit writes a file, then 409 unsafe-target-path (not a 500), nothing pushed', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const other = await otherWriter(dir, bare, 'colleague', { 'workflows/high_churn_n8n.json/README.md': 'a folder now\n' })
    await pushFrom(other.repo)
    const id = await newWorkflow(t)
    const res = await commit(t, id)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:unsafe-target-path', title: 'Unsafe target path' })
    expect(res.json().detail).toContain('workflows/high_churn_n8n.json')
    expect(res.json().detail).toContain('origin/main')
    expect(await revParse(bare, 'refs/heads/main')).toBe(other.sha)
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
  })

  it('when the remote has no such branch, then 409 branch-missing says to push it first', async () => {
    const dir = tempDir('afb-remote-')
    dirs.push(dir)
    const bare = await bareRemote(dir)
    const t = await start(dir, bare, 'a', { COMMIT_BRANCH: 'release' })
    await git(t.config.repoPath, 'branch', 'release')
    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:branch-missing' })
    expect(res.json().detail).toContain('git push origin release')
  })

  it('when the clone has a pre-commit hook, then it runs as for a local commit, what it adds is pushed, and the second look builds on the same remote head', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    hook(path.join(t.config.repoPath, '.git'), 'pre-commit', `printf 'checked\\n' > reviewed.txt && git add reviewed.txt`)
    const other = await otherWriter(dir, bare, 'colleague', { 'docs/notes.md': 'from a colleague\n' })
    await pushFrom(other.repo)
    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(201)
    expect(res.json().commit.parent).toBe(other.sha)
    expect(await filesInCommit(bare, res.json().commit.sha)).toEqual(['reviewed.txt', ...HIGH_CHURN_FILES].sort())
  })

  it('when the same workflow is committed twice at once, then one 201 and one 200 unchanged, and one commit on the remote', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const id = await newWorkflow(t)
    const answers = await Promise.all([commit(t, id), commit(t, id)])
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 201])
    const sha = answers.find((r) => r.statusCode === 201)?.json().commit.sha
    expect(await revParse(bare, 'refs/heads/main')).toBe(sha)
    expect((await git(bare, 'rev-list', '--count', 'main')).trim()).toBe('2')
  })
})

/** Counts the pushes of `apps` with a pre-push hook in each clone. */
function countPushes(dir: string, apps: TestApp[]): () => number {
  const log = path.join(dir, 'pushes')
  for (const app of apps) hook(path.join(app.config.repoPath, '.git'), 'pre-push', `cat >/dev/null\necho push >> '${log}'`)
  return () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0)
}

describe('two instances sharing one remote', () => {
  it('when two instances commit different workflows at once under a shared lock, then the remote has two linear commits, the second on the first', async () => {
    const { dir, bare } = await setUp()
    // one lock for both, as PostgreSQL's advisory lock will be: instance a's database lock
    const a = await start(dir, bare, 'a')
    const b = await start(dir, bare, 'b', {}, { withLock: (name, work) => a.services.db.withLock(name, work) })
    const pushes = countPushes(dir, [a, b])
    const first = await newWorkflow(a)
    const second = await newWorkflow(b, { issue_type: 'abandoned_carts', metric_value: 0.3 })

    const answers = await Promise.all([commit(a, first), commit(b, second)])

    expect(answers.map((r) => r.statusCode)).toEqual([201, 201])
    expect(pushes()).toBe(2) // one each: under the lock nobody loses a race
    const [x, y] = answers.map((r) => r.json().commit as { sha: string; parent: string })
    const history = (await git(bare, 'rev-list', '--parents', 'main')).trim().split('\n').map((l) => l.split(' '))
    expect(history).toHaveLength(3)
    expect(history.slice(0, 2).map((l) => l.length)).toEqual([2, 2])
    const [top, below] = history
    expect(new Set([top?.[0], below?.[0]])).toEqual(new Set([x?.sha, y?.sha]))
    expect(top?.[1]).toBe(below?.[0]) // the second's parent is the first
    // each built on what the remote held when it had the lock: neither was rebuilt, neither got lost
    expect(new Set([x?.parent, y?.parent])).toEqual(new Set([below?.[1], below?.[0]]))
  })

  it('when two instances race without a shared lock (a broken lock), then the non-forced push catches it and the loser is built again on the winner: two linear commits, no 5xx', async () => {
    const { dir, bare } = await setUp()
    const a = await start(dir, bare, 'a') // each with a lock of its own (its SQLite database's)
    const b = await start(dir, bare, 'b')
    // both reach their push having fetched the same head: each pre-push hook waits for the other's
    for (const [app, me, other] of [[a, 'a', 'b'], [b, 'b', 'a']] as const) {
      hook(
        path.join(app.config.repoPath, '.git'),
        'pre-push',
        `cat >/dev/null\necho push >> '${dir}/pushes'\ntouch '${dir}/at-push-${me}'\nfor i in $(seq 100); do [ -e '${dir}/at-push-${other}' ] && exit 0; sleep 0.05; done\nexit 0`,
      )
    }
    const first = await newWorkflow(a)
    const second = await newWorkflow(b, { issue_type: 'abandoned_carts', metric_value: 0.3 })

    const answers = await Promise.all([commit(a, first), commit(b, second)])

    expect(answers.map((r) => r.statusCode)).toEqual([201, 201])
    expect(readFileSync(path.join(dir, 'pushes'), 'utf8').split('\n').filter(Boolean)).toHaveLength(3) // the loser pushed twice
    const history = (await git(bare, 'rev-list', '--parents', 'main')).trim().split('\n').map((l) => l.split(' '))
    expect(history).toHaveLength(3)
    const [top, below, initial] = history
    expect(top?.[1]).toBe(below?.[0])
    expect(below?.[1]).toBe(initial?.[0])
    const shas = answers.map((r) => r.json().commit.sha as string)
    expect(new Set(shas)).toEqual(new Set([top?.[0], below?.[0]]))
    // the loser's first build was on the initial commit; the commit it reports is the rebuilt one
    const loser = answers.find((r) => r.json().commit.sha === top?.[0])
    expect(loser?.json().commit.parent).toBe(below?.[0])
  })
})

describe('the preview with the remote as the truth', () => {
  it('when the remote holds newer content than the stale local clone, then the preview diffs against the remote head, and it writes nothing but the remote-tracking ref', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const other = await otherWriter(dir, bare, 'colleague', { 'workflows/high_churn_workflow.json': '{"from": "the remote"}\n' })
    await pushFrom(other.repo)
    const localHead = await revParse(repo, 'HEAD')
    // what a fetch writes: the objects, the remote-tracking ref and its reflog
    const fetched = ['.git/objects', '.git/refs/remotes', '.git/logs/refs/remotes', '.git/packed-refs']
    // no program of the repository's runs for a dry run, not even for the fetch's ref update
    hook(path.join(repo, '.git'), 'reference-transaction', `echo ran >> '${dir}/hook-ran'`)
    const before = treeDigest(repo, fetched)

    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()

    expect(preview.repository).toMatchObject({ branch: 'main', head: other.sha, clean: true })
    expect(preview.changes[0]).toMatchObject({ path: 'workflows/high_churn_workflow.json', action: 'update' })
    expect(preview.changes[0].diff).toContain('-{"from": "the remote"}')
    expect(preview.changes.slice(1).map((c: { action: string }) => c.action)).toEqual(['create', 'create', 'create', 'create'])
    expect(preview.can_commit).toBe(true)
    expect(await revParse(repo, 'refs/remotes/origin/main')).toBe(other.sha)
    expect(await revParse(repo, 'HEAD')).toBe(localHead)
    expect(existsSync(path.join(repo, '.git', 'FETCH_HEAD'))).toBe(false)
    expect(treeDigest(repo, fetched)).toBe(before)
    expect(existsSync(path.join(dir, 'hook-ran'))).toBe(false)
    // nothing new on the remote: a dry run then writes nothing at all
    const all = treeDigest(repo)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id } })).json().repository.head).toBe(other.sha)
    expect(treeDigest(repo)).toBe(all)
  })
})

describe('start-up recovery with the remote as the truth', () => {
  it('when the process died between the push and the local update, then start-up leaves the local branch behind, and the retried commit answers unchanged and records the pushed commit', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const pushed = await otherWriter(dir, bare, 'pushed-then-died', await previewFiles(t, id))
    await pushFrom(pushed.repo)
    const local = await revParse(repo, 'HEAD')
    const intent = path.join(repo, '.git', 'auto-feature-builder-commit.json')
    writeFileSync(intent, JSON.stringify({ branch: 'main', from: local, to: pushed.sha, checkedOut: true, files: HIGH_CHURN_FILES.map((p) => ({ path: p })) }))

    expect(await t.services.repository.recoverInterruptedCommit()).toBe('discarded')
    expect(existsSync(intent)).toBe(false)
    expect(await revParse(repo, 'HEAD')).toBe(local)

    const res = await commit(t, id)
    expect(res.json()).toMatchObject({ status: 'unchanged', head: pushed.sha })
    expect((await t.app.inject(`/workflows/${id}`)).json()).toMatchObject({ status: 'committed', commit: { sha: pushed.sha } })
  })

  it('when the process died after the local branch was fast-forwarded over other commits but before the work tree followed, then start-up brings the work tree along with a two-way merge', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const colleague = await otherWriter(dir, bare, 'colleague', { 'docs/notes.md': 'from a colleague\n' })
    await pushFrom(colleague.repo)
    const ours = path.join(dir, 'colleague') // ours on top of the colleague's, made in the same clone
    for (const [file, content] of Object.entries(await previewFiles(t, id))) {
      mkdirSync(path.dirname(path.join(ours, file)), { recursive: true })
      writeFileSync(path.join(ours, file), content)
    }
    await git(ours, 'add', '-A')
    await git(ours, 'commit', '-m', 'ours')
    await pushFrom(ours)
    const sha = await revParse(ours, 'HEAD')
    await git(repo, 'fetch', 'origin')
    const local = await revParse(repo, 'HEAD')
    writeFileSync(path.join(repo, '.git', 'auto-feature-builder-commit.json'), JSON.stringify({ branch: 'main', from: local, to: sha, checkedOut: true, behind: true, files: HIGH_CHURN_FILES.map((p) => ({ path: p })) }))
    await git(repo, 'update-ref', 'refs/heads/main', sha, local)

    expect(await t.services.repository.recoverInterruptedCommit()).toBe('completed')
    expect(await revParse(repo, 'HEAD')).toBe(sha)
    expect(readFileSync(path.join(repo, 'docs/notes.md'), 'utf8')).toBe('from a colleague\n')
    expect(await git(repo, 'status', '--porcelain', '--untracked-files=all')).toBe('')
  })

  it('when that fast-forward would overwrite a change of the person’s, then start-up puts the local branch back instead and the change stays', async () => {
    const { dir, bare } = await setUp()
    const t = await start(dir, bare, 'a')
    const repo = t.config.repoPath
    writeFileSync(path.join(repo, 'notes.md'), 'v1\n')
    await git(repo, 'add', 'notes.md')
    await git(repo, 'commit', '-m', 'notes')
    await git(repo, 'push', 'origin', 'main')
    const local = await revParse(repo, 'HEAD')
    const colleague = await otherWriter(dir, bare, 'colleague', { 'notes.md': 'v2 from a colleague\n' })
    await pushFrom(colleague.repo)
    await git(repo, 'fetch', 'origin')
    writeFileSync(path.join(repo, 'notes.md'), 'my unsaved edit\n')
    writeFileSync(path.join(repo, '.git', 'auto-feature-builder-commit.json'), JSON.stringify({ branch: 'main', from: local, to: colleague.sha, checkedOut: true, behind: true, files: [{ path: 'workflows/x.json' }] }))
    await git(repo, 'update-ref', 'refs/heads/main', colleague.sha, local)

    expect(await t.services.repository.recoverInterruptedCommit()).toBe('discarded')
    expect(await revParse(repo, 'HEAD')).toBe(local)
    expect(readFileSync(path.join(repo, 'notes.md'), 'utf8')).toBe('my unsaved edit\n')
  })
})

describe('the setting', () => {
  it('when GIT_REMOTE_IS_TRUTH is not exactly true or false, then start-up stops naming it', () => {
    expect(() => loadConfig({ GIT_REMOTE_IS_TRUTH: 'yes' })).toThrow(ConfigError)
    expect(() => loadConfig({ GIT_REMOTE_IS_TRUTH: 'yes' })).toThrow(/GIT_REMOTE_IS_TRUTH: must be true or false/)
    expect(loadConfig({}).gitRemoteIsTruth).toBe(false)
    expect(loadConfig({ GIT_REMOTE_IS_TRUTH: 'true' })).toMatchObject({ gitRemoteIsTruth: true, gitRemoteTimeoutMs: 30_000 })
  })

  it('when it is on but REPO_PATH has no such remote, then the start-up check says to clone the remote there', async () => {
    const app = await testApp({ GIT_REMOTE_IS_TRUTH: 'true' })
    apps.push(app)
    expect(app.services.repository).toBeInstanceOf(RemoteTruthRepository)
    const failure = await (app.services.repository as RemoteTruthRepository).checkRemote().catch((err: unknown) => err)
    expect(failure).toBeInstanceOf(RepositoryError)
    expect((failure as Error).message).toContain(`has no remote origin; clone the shared remote there (git clone <url> ${app.config.repoPath})`)
  })

  it('when it is off, then the repository is the local one of today', async () => {
    const app = await testApp()
    apps.push(app)
    expect(app.services.repository).not.toBeInstanceOf(RemoteTruthRepository)
  })
})
