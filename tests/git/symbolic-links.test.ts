import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { git, treeDigest } from '../helpers/git.js'

/**
 * A check-then-use race on the file system: the symbolic-link check runs before the hooks, the
 * work-tree writes after them. A link made in between must not be written or deleted through.
 */

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

/** A folder next to the repository (in the test app's temp folder, so removed with it), holding a sentinel. */
function outsideDirWithSentinel(app: TestApp): string {
  const outside = path.join(app.dir, 'outside')
  mkdirSync(outside)
  writeFileSync(path.join(outside, 'high_churn_workflow.json'), 'precious, not the repository’s\n')
  return outside
}

async function newWorkflow(app: TestApp): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
}

describe('symbolic links made while a commit runs', () => {
  it('when a pre-commit hook replaces workflows/ with a link out of the repository, then the commit is a 409 naming the paths and the outside folder is byte-identical', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const outside = outsideDirWithSentinel(t)
    const hook = path.join(repo, '.git', 'hooks', 'pre-commit')
    writeFileSync(hook, `#!/bin/sh\nrm -rf workflows\nln -s '${outside}' workflows\n`)
    chmodSync(hook, 0o755)
    const id = await newWorkflow(t)
    const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
    const outsideBefore = treeDigest(outside)

    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

    expect(treeDigest(outside)).toBe(outsideBefore)
    expect(res.statusCode).toBe(409)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ title: 'Unsafe target path', type: 'urn:auto-feature-builder:problem:unsafe-target-path' })
    expect(res.json().detail).toContain('workflows/high_churn_workflow.json')
    // nothing was committed or written: the branch did not move, and no generated file is in the work tree
    expect((await git(repo, 'rev-parse', 'HEAD')).trim()).toBe(head)
    expect(existsSync(path.join(repo, 'tests', 'high_churn_workflow.test.ts'))).toBe(false)
    expect(lstatSync(path.join(repo, 'workflows')).isSymbolicLink()).toBe(true) // the hook's link, left as it made it
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
  })

  it('when a link appears after the last check, while the work tree is being written, then git replaces it with a real folder: a 201, and nothing is written through it', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const outside = outsideDirWithSentinel(t)
    // git runs the reference-transaction hook when the branch moves. Once it is committed (so after
    // the last check, and with the intent file written) comes the work-tree write.
    const hook = path.join(repo, '.git', 'hooks', 'reference-transaction')
    const linked = path.join(t.dir, 'linked') // the hook's note that it made the link
    writeFileSync(hook, `#!/bin/sh\n[ "$1" = committed ] && [ -e .git/auto-feature-builder-commit.json ] && [ ! -e workflows ] && ln -s '${outside}' workflows && touch '${linked}'\nexit 0\n`)
    chmodSync(hook, 0o755)
    const outsideBefore = treeDigest(outside)

    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: await newWorkflow(t), dry_run: false } })

    expect(existsSync(linked)).toBe(true)
    expect(treeDigest(outside)).toBe(outsideBefore)
    expect(res.statusCode).toBe(201)
    expect(lstatSync(path.join(repo, 'workflows')).isDirectory()).toBe(true)
    expect(readFileSync(path.join(repo, 'workflows', 'high_churn_workflow.json'), 'utf8')).toContain('"workflow_id"')
    expect(await git(repo, 'status', '--porcelain')).toBe('')
  })

  it('when start-up finishes an interrupted commit and workflows/ has become a link out of the repository, then nothing is written through it', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const outside = outsideDirWithSentinel(t)
    const old = (await git(repo, 'rev-parse', 'HEAD')).trim()
    // the crash window: the branch holds the commit, the work tree has not followed; meanwhile a link appeared
    const side = path.join(t.dir, 'side')
    await git(repo, 'worktree', 'add', '-q', '--detach', side, old)
    mkdirSync(path.join(side, 'workflows'))
    writeFileSync(path.join(side, 'workflows', 'high_churn_workflow.json'), '{"committed": true}\n')
    await git(side, 'add', 'workflows/high_churn_workflow.json')
    await git(side, 'commit', '-q', '--no-verify', '-m', 'interrupted')
    const sha = (await git(side, 'rev-parse', 'HEAD')).trim()
    await git(repo, 'worktree', 'remove', '--force', side)
    writeFileSync(
      path.join(repo, '.git', 'auto-feature-builder-commit.json'),
      JSON.stringify({ branch: 'main', from: old, to: sha, checkedOut: true, files: [{ path: 'workflows/high_churn_workflow.json', content: '{"committed": true}\n' }] }),
    )
    await git(repo, 'update-ref', 'refs/heads/main', sha, old)
    symlinkSync(outside, path.join(repo, 'workflows'))
    const outsideBefore = treeDigest(outside)

    expect(await t.services.repository.recoverInterruptedCommit()).toBe('completed')

    expect(treeDigest(outside)).toBe(outsideBefore)
    expect(readFileSync(path.join(outside, 'high_churn_workflow.json'), 'utf8')).toBe('precious, not the repository’s\n')
    // git replaced the untracked link with the committed folder, as `git checkout` would
    expect(lstatSync(path.join(repo, 'workflows')).isDirectory()).toBe(true)
    expect(readFileSync(path.join(repo, 'workflows', 'high_churn_workflow.json'), 'utf8')).toBe('{"committed": true}\n')
    expect(await git(repo, 'status', '--porcelain')).toBe('')
  })
})
