import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { countGitProcesses, filesInCommit, git, treeDigest } from '../helpers/git.js'

let t: TestApp | undefined
const savedPath = process.env.PATH
afterEach(async () => {
  process.env.PATH = savedPath // countGitProcesses puts a logging git first on PATH
  await t?.close()
  t = undefined
})

const ISSUE_TYPES = ['high_churn', 'abandoned_carts', 'revenue_drop', 'payment_failures', 'low_conversion', 'error_spike']

async function newWorkflow(app: TestApp, payload: Record<string, unknown> = {}): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, ...payload } })).json().workflow_id
}
/** The subcommand of a logged git command line (`-c name=value … --no-optional-locks status …` → status). */
function gitSubcommand(line: string): string {
  const words = line.split(' ')
  let i = 0
  while (words[i] === '-c' || words[i]?.startsWith('--')) i += words[i] === '-c' ? 2 : 1
  return words[i] ?? ''
}
/** git subcommands that only read the repository (status runs with --no-optional-locks) */
const READING_GIT = ['rev-parse', 'cat-file', 'config', 'check-attr', 'status', 'ls-files', 'ls-tree', 'diff-index', 'for-each-ref', 'symbolic-ref']

const commit = (app: TestApp, workflowId: string, extra: Record<string, unknown> = {}) =>
  app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: workflowId, dry_run: false, ...extra } })

/** Everything about the work tree a person would care about: status, index content and file bytes. */
async function workState(repo: string) {
  return {
    head: (await git(repo, 'rev-parse', 'HEAD')).trim(),
    status: await git(repo, 'status', '--porcelain=v1', '--untracked-files=all'),
    staged: await git(repo, 'diff', '--cached'),
    unstaged: await git(repo, 'diff'),
  }
}

describe('POST /commits with dry_run: false', () => {
  it('when a workflow is committed, then git log shows exactly its five files (three and the default exports), the trailer and our identity', async () => {
    t = await testApp({ GIT_AUTHOR_NAME: 'Feature Bot', GIT_AUTHOR_EMAIL: 'bot@example.test' })
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const parent = (await git(repo, 'rev-parse', 'HEAD')).trim()
    const res = await commit(t, id)
    expect(res.statusCode).toBe(201)
    const body = res.json()
    const sha = (await git(repo, 'rev-parse', 'HEAD')).trim()
    expect(body).toMatchObject({ workflow_id: id, dry_run: false, pushed: false, commit: { sha, branch: 'main', parent } })
    expect(await filesInCommit(repo, sha)).toEqual(['tests/high_churn_workflow.test.ts', 'workflows/high_churn_make_blueprint.json', 'workflows/high_churn_n8n.json', 'workflows/high_churn_prompt_templates.json', 'workflows/high_churn_workflow.json'])
    expect((await git(repo, 'log', '-1', '--format=%an <%ae>|%cn <%ce>')).trim()).toBe('Feature Bot <bot@example.test>|Feature Bot <bot@example.test>')
    expect((await git(repo, 'log', '-1', '--format=%(trailers:key=Workflow-Id,valueonly)')).trim()).toBe(id)
    expect(await git(repo, 'log', '-1', '--format=%s')).toContain('Auto-Retention: High Churn')
    // the identity is per command, never written into any git config
    expect(await readFile(path.join(repo, '.git', 'config'), 'utf8')).not.toMatch(/Feature Bot|bot@example/)
    // the work tree and index follow the branch: nothing shows as changed afterwards
    expect(await git(repo, 'status', '--porcelain')).toBe('')
    expect(await readFile(path.join(repo, 'workflows/high_churn_workflow.json'), 'utf8')).toBe((await t.services.store.files(id))?.[0]?.content)

    const record = (await t.app.inject(`/workflows/${id}`)).json()
    expect(record.status).toBe('committed')
    expect(record.commit).toMatchObject({ sha, branch: 'main' })
    const [entry] = (await t.app.inject(`/audit?workflow_id=${id}&operation=commit.create`)).json().items
    expect(entry).toMatchObject({ status: 201, dry_run: false, pushed: false, commit_sha: sha, issue_type: 'high_churn', workflow_id: id })
    expect(entry.files).toHaveLength(5)
  })

  it('when committed twice with identical content, then the second is 200 unchanged and no empty commit is made', async () => {
    t = await testApp()
    const id = await newWorkflow(t)
    await commit(t, id)
    const head = (await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()
    const again = await commit(t, id)
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ status: 'unchanged', workflow_id: id, head, branch: 'main' })
    expect((await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()).toBe(head)
  })

  it('when the description holds a lone surrogate or a pair cut by the 200-character limit, then the 201 says the message git stored', async () => {
    t = await testApp()
    const descriptions = {
      lone: 'Churn rose \ud800 to 8% \udc00 this week',
      // the emoji's two UTF-16 units are the 200th and 201st: a cut at 200 would keep half of it
      straddling: `${'a'.repeat(199)}😀 and more`,
    }
    for (const [name, description] of Object.entries(descriptions)) {
      const res = await commit(t, await newWorkflow(t, { description }))
      expect(res.statusCode, name).toBe(201)
      const stored = await git(t.config.repoPath, 'log', '-1', '--format=%B')
      // %B ends the message with one more newline than the message has
      expect(`${res.json().commit.message}\n`, name).toBe(stored)
      expect(res.json().commit.message, name).not.toMatch(/\p{Cs}/u)
    }
    expect((await git(t.config.repoPath, 'log', '-2', '--format=%B')).split('\n')).toEqual(
      expect.arrayContaining([`${'a'.repeat(199)} (metric 0.08).`, 'Churn rose \ufffd to 8% \ufffd this week (metric 0.08).']),
    )
  })

  it('when a person has staged, unstaged and untracked work, then none of it is in the commit and all of it stays as it was', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    await writeFile(path.join(repo, 'notes.md'), 'v1\n')
    await writeFile(path.join(repo, 'plan.md'), 'plan v1\n')
    await git(repo, 'add', 'notes.md', 'plan.md')
    await git(repo, 'commit', '-m', 'person: notes')
    await writeFile(path.join(repo, 'notes.md'), 'v2, not staged\n') // unstaged
    await writeFile(path.join(repo, 'plan.md'), 'plan v2, staged\n')
    await git(repo, 'add', 'plan.md') // staged
    await writeFile(path.join(repo, 'staged-new.md'), 'brand new\n')
    await git(repo, 'add', 'staged-new.md') // staged, new
    await mkdir(path.join(repo, 'workflows'))
    await writeFile(path.join(repo, 'workflows', 'scratch.txt'), 'untracked next to our files\n') // untracked
    const before = await workState(repo)

    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(201)
    const sha = res.json().commit.sha
    expect(await filesInCommit(repo, sha)).toEqual(['tests/high_churn_workflow.test.ts', 'workflows/high_churn_make_blueprint.json', 'workflows/high_churn_n8n.json', 'workflows/high_churn_prompt_templates.json', 'workflows/high_churn_workflow.json'])
    const after = await workState(repo)
    expect(after.head).toBe(sha)
    expect(after.staged).toBe(before.staged)
    expect(after.unstaged).toBe(before.unstaged)
    expect(after.status).toBe(before.status)
    expect(await readFile(path.join(repo, 'notes.md'), 'utf8')).toBe('v2, not staged\n')
    expect(await readFile(path.join(repo, 'workflows', 'scratch.txt'), 'utf8')).toBe('untracked next to our files\n')
  })

  it('when a generated target path has local modifications, then 409 names it and nothing is written', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    await commit(t, await newWorkflow(t))
    await writeFile(path.join(repo, 'workflows/high_churn_prompt_templates.json'), '{"hand": "edited"}\n')
    const before = treeDigest(repo)
    const res = await commit(t, await newWorkflow(t, { severity: 'low' }))
    expect(res.statusCode).toBe(409)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ title: 'Uncommitted changes in target paths' })
    expect(res.json().detail).toContain('workflows/high_churn_prompt_templates.json')
    expect(treeDigest(repo)).toBe(before)
  })

  it('when a pre-commit hook fails midway, then the repository and work tree are as they were and the failure is audited', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    await writeFile(path.join(repo, 'wip.txt'), 'person work\n')
    await git(repo, 'add', 'wip.txt')
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit')
    await writeFile(hook, '#!/bin/sh\necho "lint failed: no workflows on Fridays" >&2\nexit 1\n')
    await chmod(hook, 0o755)
    const id = await newWorkflow(t)
    const before = await workState(repo)
    const refsBefore = await git(repo, 'for-each-ref')
    const digestBefore = treeDigest(repo)

    const res = await commit(t, id)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Commit rejected by a git hook' })
    expect(res.json().detail).toContain('no workflows on Fridays')
    expect(await workState(repo)).toEqual(before)
    expect(await git(repo, 'for-each-ref')).toBe(refsBefore)
    // no private index, scratch file or intent is left behind in .git — not even an object:
    // the blobs, tree and commit were written to a quarantine that died with the attempt
    expect(treeDigest(repo)).toBe(digestBefore)
    expect(readdirSync(path.join(repo, '.git')).filter((n) => n.startsWith('auto-feature-builder'))).toEqual([])
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
    const [entry] = (await t.app.inject(`/audit?workflow_id=${id}&operation=commit.create`)).json().items
    expect(entry).toMatchObject({ status: 409, dry_run: false, commit_sha: null })
    expect(entry.detail).toContain('pre-commit')
  })

  it('when 12 commits of different workflows arrive at once, then every one lands in a linear history', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const ids: string[] = []
    for (let i = 0; i < 12; i++) ids.push(await newWorkflow(t, { issue_type: ISSUE_TYPES[i % 6], description: `concurrent #${i}` }))
    const responses = await Promise.all(ids.map((id) => commit(t as TestApp, id)))
    expect(responses.map((r) => r.statusCode)).toEqual(Array(12).fill(201))
    const shas = responses.map((r) => r.json().commit.sha)
    expect(new Set(shas).size).toBe(12)
    const history = (await git(repo, 'rev-list', '--parents', 'HEAD')).trim().split('\n')
    expect(history).toHaveLength(13) // 12 + the initial commit
    for (const line of history.slice(0, -1)) expect(line.split(' ')).toHaveLength(2) // exactly one parent: linear
    const logged = new Set(history.map((line) => line.split(' ')[0]))
    for (const sha of shas) expect(logged.has(sha)).toBe(true)
    expect(await git(repo, 'status', '--porcelain')).toBe('')
  })

  it('when a crashed process left .git/index.lock, then a clear 409 comes back at once (from a look, without retrying) and nothing is written', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    await writeFile(path.join(repo, '.git', 'index.lock'), '')
    const before = treeDigest(repo)
    const id = await newWorkflow(t)
    const taken = countGitProcesses(t.dir)
    const res = await commit(t, id)
    // refused by the first look, not by waiting: only git processes that read, each once — none that
    // would wait for the lock or try again (a count, so a slow machine cannot fail it)
    const subcommands = taken().map(gitSubcommand)
    expect(subcommands.every((c) => READING_GIT.includes(c)), subcommands.join(', ')).toBe(true)
    expect(new Set(subcommands).size).toBe(subcommands.length)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Repository is locked' })
    expect(res.json().detail).toContain('index.lock')
    expect(treeDigest(repo)).toBe(before)
  })

  it('when the workflow does not exist, then 404 and no commit', async () => {
    t = await testApp()
    const head = (await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()
    const res = await commit(t, '5f0c6f8e-8c1b-4a55-9d1e-0f4a3c2b1a00')
    expect(res.statusCode).toBe(404)
    expect((await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()).toBe(head)
  })
})

describe('push', () => {
  async function withBareRemote(): Promise<{ bare: string; dir: string }> {
    const dir = tempDir('afb-remote-')
    const bare = path.join(dir, 'remote.git')
    await git(dir, 'init', '--bare', '--initial-branch=main', bare)
    return { bare, dir }
  }

  it('when push is true and the remote is a fast-forward, then the remote branch is the new commit', async () => {
    const { bare, dir } = await withBareRemote()
    t = await testApp({}, dir)
    await git(t.config.repoPath, 'remote', 'add', 'origin', bare)
    await git(t.config.repoPath, 'push', 'origin', 'main')
    const res = await commit(t, await newWorkflow(t), { push: true })
    expect(res.statusCode).toBe(201)
    expect(res.json().pushed).toBe(true)
    expect((await git(bare, 'rev-parse', 'refs/heads/main')).trim()).toBe(res.json().commit.sha)
  })

  it('when the remote has diverged, then 409 with git’s reason, the remote untouched and the commit kept locally', async () => {
    const { bare, dir } = await withBareRemote()
    t = await testApp({}, dir)
    const repo = t.config.repoPath
    await git(repo, 'remote', 'add', 'origin', bare)
    await git(repo, 'push', 'origin', 'main')
    // someone else pushes first
    const other = path.join(dir, 'other')
    await git(dir, 'clone', bare, other)
    await git(other, 'commit', '--allow-empty', '-m', 'someone else')
    await git(other, 'push', 'origin', 'main')
    const remoteBefore = (await git(bare, 'rev-parse', 'refs/heads/main')).trim()

    const id = await newWorkflow(t)
    const res = await commit(t, id, { push: true })
    expect(res.statusCode).toBe(409)
    expect(res.json().title).toBe('Push rejected')
    expect(res.json().detail).toMatch(/rejected|fetch first|non-fast-forward/)
    expect((await git(bare, 'rev-parse', 'refs/heads/main')).trim()).toBe(remoteBefore)
    const record = (await t.app.inject(`/workflows/${id}`)).json()
    expect(record.status).toBe('committed')
    expect(res.json().detail).toContain(record.commit.sha)
    expect((await git(repo, 'rev-parse', 'HEAD')).trim()).toBe(record.commit.sha)
    const [entry] = (await t.app.inject(`/audit?workflow_id=${id}&operation=commit.create`)).json().items
    expect(entry).toMatchObject({ status: 409, pushed: false, commit_sha: record.commit.sha })
  })

  it("when the commit is made but the request's audit entry cannot be stored, then the 503 names the commit instead of saying nothing was stored", async () => {
    t = await testApp()
    const id = await newWorkflow(t)
    await t.services.db.run(`CREATE TRIGGER no_commit_audit BEFORE INSERT ON audit WHEN NEW.operation = 'commit.create' BEGIN SELECT RAISE(ABORT, 'the audit cannot take this entry'); END`)
    const res = await commit(t, id)
    expect(res.statusCode).toBe(503)
    const record = (await t.app.inject(`/workflows/${id}`)).json()
    expect(record.status).toBe('committed')
    expect(res.json().detail).toMatch(new RegExp(`^The commit ${record.commit.sha} was made, but this request's audit entry could not be stored`))
    expect(res.json().detail).not.toContain('nothing was stored')
  })

  it('when the remote hangs in a hook, then the push is stopped after GIT_REMOTE_TIMEOUT_MS with everything it started, 409 push-rejected, the commit kept locally', async () => {
    const { bare, dir } = await withBareRemote()
    t = await testApp({ GIT_REMOTE_TIMEOUT_MS: '1500' }, dir)
    const repo = t.config.repoPath
    await git(repo, 'remote', 'add', 'origin', bare)
    await git(repo, 'push', '-u', 'origin', 'main')
    const remoteBefore = (await git(bare, 'rev-parse', 'refs/heads/main')).trim()
    const pidFile = path.join(dir, 'hook.pid')
    const hook = path.join(bare, 'hooks', 'pre-receive')
    writeFileSync(hook, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 60\n`)
    chmodSync(hook, 0o755)
    const id = await newWorkflow(t)

    const res = await commit(t, id, { push: true })

    // the deadline ended the push, not the hook: the answer names the deadline, and the hook's
    // `sleep 60` is gone below although the test runs for less than a minute (no wall-clock bound)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Push rejected' })
    expect(res.json().detail).toContain('did not finish within 1500 ms')
    expect((await git(bare, 'rev-parse', 'refs/heads/main')).trim()).toBe(remoteBefore)
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('committed')
    // the remote's hook was killed with the push (its process group), not left running
    const pid = Number(readFileSync(pidFile, 'utf8'))
    const state = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\) /, '')[0]
      } catch {
        return 'gone'
      }
    })()
    expect(['gone', 'Z']).toContain(state) // ended (a zombie until its parent, killed too, is reaped)
  })

  it('when a rejected push is retried after the remote is sorted out, then the same commit request pushes, and /status shows the distance to the remote', async () => {
    const { bare, dir } = await withBareRemote()
    t = await testApp({}, dir)
    const repo = t.config.repoPath
    await git(repo, 'remote', 'add', 'origin', bare)
    await git(repo, 'push', '-u', 'origin', 'main')
    await git(bare, 'config', 'receive.denyNonFastForwards', 'false')
    const id = await newWorkflow(t)
    // a pre-receive hook refuses the first push, as a protected branch would
    const hook = path.join(bare, 'hooks', 'pre-receive')
    writeFileSync(hook, '#!/bin/sh\necho "branch protected" >&2\nexit 1\n')
    chmodSync(hook, 0o755)
    expect((await commit(t, id, { push: true })).statusCode).toBe(409)
    expect((await t.app.inject('/status')).json().repository.remote).toEqual({ remote: 'origin', ahead: 1, behind: 0 })
    rmSync(hook)
    const retry = await commit(t, id, { push: true })
    expect(retry.statusCode).toBe(200)
    expect(retry.json()).toMatchObject({ status: 'unchanged', pushed: true })
    const sha = (await t.app.inject(`/workflows/${id}`)).json().commit.sha
    expect((await git(bare, 'rev-parse', 'refs/heads/main')).trim()).toBe(sha)
    expect((await t.app.inject('/status')).json().repository.remote).toEqual({ remote: 'origin', ahead: 0, behind: 0 })
  })
})

describe('the audit head in every commit', () => {
  it('when a workflow is committed, then the commit carries Audit-Head: <seq> <hash>, and verify accepts it as an anchor', async () => {
    t = await testApp()
    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(201)
    const trailer = (await git(t.config.repoPath, 'log', '-1', '--format=%(trailers:key=Audit-Head,valueonly)')).trim()
    const [seq, hash] = trailer.split(' ')
    expect(Number(seq)).toBeGreaterThan(0)
    expect(hash).toBe(t.sqlite.prepare('SELECT hash FROM audit WHERE seq = ?').pluck().get(Number(seq)))
    const verify = await t.app.inject(`/audit/verify?anchor=${encodeURIComponent(trailer)}`)
    expect(verify.json()).toMatchObject({ ok: true })
    // a rewrite of that entry (hashes recomputed or not) no longer matches the anchor the repository holds
    t.sqlite.prepare(`UPDATE audit SET hash = ? WHERE seq = ?`).run('0'.repeat(64), Number(seq))
    expect((await t.app.inject(`/audit/verify?full=true&anchor=${encodeURIComponent(trailer)}`)).json()).toMatchObject({ ok: false })
  })
})

describe('one live automation per type', () => {
  it('when a second workflow of a type is committed, then the preview and the commit name the one it replaces, which becomes superseded; status=live lists what is in the repository', async () => {
    t = await testApp()
    const first = await newWorkflow(t)
    const firstSha = (await commit(t, first)).json().commit.sha
    const second = await newWorkflow(t, { severity: 'critical' })
    const preview = (await t.app.inject(`/workflows/${second}/preview`)).json()
    expect(preview.replaces).toEqual({ workflow_id: first, commit_sha: firstSha })
    expect(preview.messages).toContain(`Would replace workflow ${first} (committed ${firstSha}), which becomes superseded: one live automation per type`)
    const res = await commit(t, second)
    expect(res.statusCode).toBe(201)
    expect(res.json().replaces).toEqual({ workflow_id: first, commit_sha: firstSha })
    expect((await t.app.inject(`/workflows/${first}`)).json()).toMatchObject({ status: 'superseded', superseded_by: second })
    expect((await t.app.inject('/workflows?status=live')).json().items.map((w: { workflow_id: string }) => w.workflow_id)).toEqual([second])
  })
  it('when a more severe detection supersedes a workflow while that workflow is being committed, then the commit stands: it is committed and not marked superseded, the new one stays open and no longer says it supersedes it, and committing the new one links them', async () => {
    t = await testApp({ GROUP_WINDOW: '24h' })
    const repo = t.config.repoPath
    const started = path.join(t.dir, 'hook-started')
    const proceed = path.join(t.dir, 'hook-proceed')
    // the hook holds the commit midway until the test has sent the detection (at most 20 s)
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit')
    await writeFile(hook, `#!/bin/sh\ntouch '${started}'\ni=0\nwhile [ ! -f '${proceed}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n`)
    await chmod(hook, 0o755)
    const first = await newWorkflow(t, { severity: 'medium' })

    const committing = commit(t, first)
    while (!existsSync(started)) await new Promise((resolve) => setTimeout(resolve, 20))
    const rose = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity: 'critical' } })
    expect(rose.statusCode).toBe(201)
    expect(rose.json()).toMatchObject({ supersedes: first })
    writeFileSync(proceed, '')
    const res = await committing

    expect(res.statusCode).toBe(201)
    const committed = (await t.app.inject(`/workflows/${first}`)).json()
    expect(committed).toMatchObject({ status: 'committed', commit: { sha: res.json().commit.sha } })
    expect(committed.superseded_by ?? null).toBeNull()
    // both links or neither: the commit stands, so the newer workflow does not (yet) supersede it
    expect((await t.app.inject(`/workflows/${rose.json().workflow_id}`)).json()).toMatchObject({ status: 'generated', supersedes: null })

    await writeFile(proceed, '')
    const replacing = await commit(t, rose.json().workflow_id)
    expect(replacing.statusCode).toBe(201)
    expect(replacing.json().replaces).toEqual({ workflow_id: first, commit_sha: res.json().commit.sha })
    expect((await t.app.inject(`/workflows/${first}`)).json()).toMatchObject({ status: 'superseded', superseded_by: rose.json().workflow_id })
  })
})
