import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { RepositoryError } from '../../src/git/errors.js'
import { readIntent, writeIntent } from '../../src/git/intent.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { git, treeDigest } from '../helpers/git.js'

/**
 * The crash window between two writes: the intent file is written before the branch moves and
 * removed once the work tree has followed. It is written whole or not at all, a failure before
 * the branch moves leaves .git as it was, and start-up says so when it finds a damaged one.
 */

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const INTENT = path.join('.git', 'auto-feature-builder-commit.json')
const SCRATCH = path.join('.git', 'auto-feature-builder-tmp')

async function newWorkflow(app: TestApp, severity = 'high'): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity } })).json().workflow_id
}
const commit = (app: TestApp, id: string) => app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

function hook(repo: string, name: string, body: string): void {
  const file = path.join(repo, '.git', 'hooks', name)
  writeFileSync(file, `#!/bin/sh\n${body}\n`)
  chmodSync(file, 0o755)
}

describe('the intent file of a commit', () => {
  it.each([
    ['cut short', '{"branch":"main","from":"8e3e62213c69ddb6bc2d'],
    ['empty', ''],
    ['not JSON at all', '\u0000\u0000\u0000garbage'],
    ['JSON without the fields', '{"branch":"main"}'],
  ])('when it is damaged (%s), then start-up recovery stops with a message naming the file and what to do, and keeps the file', async (_kind, content) => {
    t = await testApp()
    const repo = t.config.repoPath
    const file = path.join(repo, INTENT)
    writeFileSync(file, content)
    const before = treeDigest(repo)

    const outcome = await t.services.repository.recoverInterruptedCommit().then(
      () => null,
      (err: unknown) => err,
    )

    expect(outcome).toBeInstanceOf(RepositoryError)
    const message = (outcome as Error).message
    expect(message).toContain(`${file} is damaged (`)
    expect(message).toContain(`git -C ${repo} status`)
    expect(message).toContain(`remove ${file} and start again`)
    expect(readFileSync(file, 'utf8')).toBe(content) // neither removed nor rewritten: a person decides
    expect(treeDigest(repo)).toBe(before)
  })

  it('when the intent file cannot be written, then the commit fails and .git is as it was: no intent file, no object', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const before = treeDigest(repo)
    // the hook runs before the intent is written; a folder where its temporary file goes makes that write fail
    hook(repo, 'pre-commit', `mkdir -p '${SCRATCH}/auto-feature-builder-commit.json'`)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(500) // the service's own file could not be written: the log says why
    rmSync(path.join(repo, '.git', 'hooks', 'pre-commit'))
    expect(treeDigest(repo)).toBe(before)
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
    expect((await commit(t, id)).statusCode).toBe(201)
  })

  it('when a reference-transaction hook refuses the branch update, then a 409 names the hook and .git is byte-identical (the objects went back to the quarantine)', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    hook(repo, 'reference-transaction', '[ "$1" = prepared ] && { echo "branch frozen for the release" >&2; exit 1; }\nexit 0')
    const id = await newWorkflow(t)
    const before = treeDigest(repo)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Commit rejected by a git hook' })
    expect(res.json().detail).toContain('reference-transaction')
    expect(treeDigest(repo)).toBe(before)
  })

  it('when the work tree cannot follow and the branch cannot be put back, then the intent stays, further commits are refused, and start-up recovery finishes the commit', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
    // Once the branch has moved (the intent exists), take the person's index.lock, so the work
    // tree and index cannot follow; and refuse the update that would put the branch back to where it was.
    hook(
      repo,
      'reference-transaction',
      `[ "$1" = prepared ] && grep -q " ${head} refs/heads/main$" && exit 1\n[ "$1" = committed ] && [ -e '${INTENT}' ] && touch .git/index.lock\nexit 0`,
    )
    const id = await newWorkflow(t)

    const res = await commit(t, id)

    expect(res.statusCode).toBe(409)
    expect(res.json().title).toBe('Repository is locked')
    const sha = (await git(repo, 'rev-parse', 'refs/heads/main')).trim()
    expect(sha).not.toBe(head) // the branch holds the commit …
    expect(JSON.parse(readFileSync(path.join(repo, INTENT), 'utf8'))).toMatchObject({ branch: 'main', from: head, to: sha }) // … and the intent says so

    const other = await newWorkflow(t, 'low')
    expect((await t.app.inject(`/workflows/${other}/preview`)).json().blockers).toContain(
      `${path.join(repo, INTENT)} describes an earlier commit that could be neither finished nor undone: restart the service to finish it`,
    )
    const next = await commit(t, other)
    expect(next.statusCode).toBe(409)
    expect(next.json()).toMatchObject({ title: 'Unfinished commit', type: 'urn:auto-feature-builder:problem:unfinished-commit' })
    expect(next.json().detail).toContain(INTENT)

    // what a restart does, once the lock is gone
    rmSync(path.join(repo, '.git', 'index.lock'))
    rmSync(path.join(repo, '.git', 'hooks', 'reference-transaction'))
    expect(await t.services.repository.recoverInterruptedCommit()).toBe('completed')
    expect((await git(repo, 'rev-parse', 'refs/heads/main')).trim()).toBe(sha)
    expect(await git(repo, 'status', '--porcelain')).toBe('')
    expect(existsSync(path.join(repo, INTENT))).toBe(false)
    expect((await commit(t, id)).json()).toMatchObject({ status: 'unchanged', head: sha })
  })
})

describe('writeIntent', () => {
  const intent = { branch: 'main', from: 'a'.repeat(40), to: 'b'.repeat(40), checkedOut: true, files: [{ path: 'workflows/x.json' }] }

  it('when the rename into place fails, then neither the temporary file nor a partial intent file is left', async () => {
    const dir = tempDir('afb-intent-')
    try {
      const scratch = path.join(dir, 'scratch')
      mkdirSync(scratch)
      const file = path.join(dir, 'auto-feature-builder-commit.json')
      mkdirSync(path.join(file, 'in-the-way'), { recursive: true }) // a rename onto a non-empty folder fails
      await expect(writeIntent(file, scratch, intent)).rejects.toThrow()
      expect(readdirSync(scratch)).toEqual([])
      expect(readdirSync(file)).toEqual(['in-the-way'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('when it succeeds, then the file reads back as the same intent and nothing is left in the scratch folder', async () => {
    const dir = tempDir('afb-intent-')
    try {
      const scratch = path.join(dir, 'scratch')
      mkdirSync(scratch)
      const file = path.join(dir, 'auto-feature-builder-commit.json')
      await writeIntent(file, scratch, intent)
      expect(await readIntent(file, dir)).toEqual(intent)
      expect(readdirSync(scratch)).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
