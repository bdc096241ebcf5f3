import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ensureRepository } from '../../src/git/open.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { filesInCommit, git } from '../helpers/git.js'

let t: TestApp | undefined
const dirs: string[] = []
afterEach(async () => {
  await t?.close()
  t = undefined
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

async function newWorkflow(app: TestApp): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
}
const commit = (app: TestApp, id: string) => app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

describe('repositories in unusual states', () => {
  it('when HEAD is detached and COMMIT_BRANCH is unset, then preview and commit are a clear 409, not a 500', async () => {
    t = await testApp()
    await git(t.config.repoPath, 'checkout', '-q', '--detach')
    const id = await newWorkflow(t)
    for (const res of [await t.app.inject(`/workflows/${id}/preview`), await commit(t, id)]) {
      expect(res.statusCode).toBe(409)
      expect(res.json()).toMatchObject({ title: 'HEAD is detached' })
      expect(res.json().detail).toContain('COMMIT_BRANCH')
    }
  })

  it('when a target folder is a symbolic link out of the repository, then the commit is refused and nothing outside is touched', async () => {
    t = await testApp()
    const outside = tempDir('afb-outside-')
    dirs.push(outside)
    writeFileSync(path.join(outside, 'high_churn_workflow.json'), 'precious\n')
    symlinkSync(outside, path.join(t.config.repoPath, 'workflows'))
    const id = await newWorkflow(t)
    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()
    expect(preview.can_commit).toBe(false)
    expect(preview.blockers).toContain('workflows/high_churn_workflow.json would be written through a symbolic link or across a file')
    const res = await commit(t, id)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Unsafe target path' })
    expect(readFileSync(path.join(outside, 'high_churn_workflow.json'), 'utf8')).toBe('precious\n')
    expect(existsSync(path.join(outside, 'high_churn_prompt_templates.json'))).toBe(false)
  })

  it('when REPO_PATH is a linked worktree, then a real commit lands on its branch and its own index follows', async () => {
    const dir = tempDir('afb-worktree-')
    dirs.push(dir)
    const main = path.join(dir, 'main')
    await ensureRepository(main, { name: 'x', email: 'x@localhost' })
    const worktree = path.join(dir, 'wt')
    await git(main, 'worktree', 'add', '-q', '-b', 'automation', worktree)
    mkdirSync(path.join(dir, 'data'))
    t = await testApp({ REPO_PATH: worktree }, dir)
    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(201)
    expect(res.json().commit.branch).toBe('automation')
    expect(await filesInCommit(worktree, res.json().commit.sha)).toHaveLength(5)
    expect(await git(worktree, 'status', '--porcelain')).toBe('')
    expect((await git(main, 'rev-parse', 'main')).trim()).not.toBe(res.json().commit.sha)
  })
})

describe('git edge cases found in review', () => {
  it('when a file is stored as a pack (core.bigFileThreshold) on a branch that is not checked out, then the commit is complete and fsck is clean', async () => {
    t = await testApp({ COMMIT_BRANCH: 'automation' })
    const repo = t.config.repoPath
    await git(repo, 'branch', 'automation')
    await git(repo, 'config', 'core.bigFileThreshold', '100')
    const res = await commit(t, await newWorkflow(t))
    expect(res.statusCode).toBe(201)
    const sha = res.json().commit.sha
    expect(await filesInCommit(repo, sha)).toHaveLength(5)
    expect(await git(repo, 'show', `${sha}:workflows/high_churn_workflow.json`)).toContain('"workflow_id"')
    await git(repo, 'fsck', '--full', '--strict') // throws on any missing or broken object
  })

  it('when a failing hook tries to write a ref while objects are quarantined, then git refuses it and the repository stays sound', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const { chmodSync } = await import('node:fs')
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit')
    writeFileSync(hook, '#!/bin/sh\ngit update-ref refs/backup/x "$(git write-tree)" 2>/dev/null\nexit 1\n')
    chmodSync(hook, 0o755)
    expect((await commit(t, await newWorkflow(t))).statusCode).toBe(409)
    expect(await git(repo, 'for-each-ref', 'refs/backup')).toBe('')
    await git(repo, 'fsck', '--full', '--strict')
  })

  it('when a folder stands where a generated file goes, then the preview blocks and the commit is a 409, not a 500', async () => {
    t = await testApp()
    mkdirSync(path.join(t.config.repoPath, 'workflows', 'high_churn_workflow.json'), { recursive: true })
    const id = await newWorkflow(t)
    expect((await t.app.inject(`/workflows/${id}/preview`)).json().blockers).toContain(
      'workflows/high_churn_workflow.json would be written through a symbolic link or across a file',
    )
    const res = await commit(t, id)
    expect(res.statusCode).toBe(409)
    expect(res.json().title).toBe('Unsafe target path')
  })

  it('when a push is rejected for a keyed request, then the retry replays that answer instead of reporting "unchanged"', async () => {
    const dir = tempDir('afb-push-')
    dirs.push(dir)
    const bare = path.join(dir, 'remote.git')
    await git(dir, 'init', '-q', '--bare', '--initial-branch=main', bare)
    t = await testApp({}, dir)
    await git(t.config.repoPath, 'remote', 'add', 'origin', bare)
    await git(dir, 'clone', '-q', bare, path.join(dir, 'other'))
    await git(path.join(dir, 'other'), 'commit', '--allow-empty', '-m', 'someone else')
    await git(path.join(dir, 'other'), 'push', '-q', 'origin', 'HEAD:main')
    const id = await newWorkflow(t)
    const send = () => t!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false, push: true }, headers: { 'idempotency-key': 'push-1' } })
    const first = await send()
    expect(first.statusCode).toBe(409)
    const retry = await send()
    expect(retry.statusCode).toBe(409)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.body).toBe(first.body)
  })
})
