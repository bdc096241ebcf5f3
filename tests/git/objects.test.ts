import { execFile } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { RepositoryError } from '../../src/git/errors.js'
import { commitObject, editTree, identityIsPlain, ObjectReader, objectId, TreeReader, writeLooseObject } from '../../src/git/objects.js'
import { parsePorcelain, parsePorcelainV2 } from '../../src/git/status.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { filesInCommit, git } from '../helpers/git.js'

/**
 * The objects a commit is made of are written by the service, not by git: they must be the very
 * objects git would write (same ids), and git must find them sound (fsck --strict).
 */

const dirs: string[] = []
let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const identity = { name: 'Feature Bot', email: 'bot@example.test' }

/** A repository whose head holds names that sort differently as files and as folders ("a" vs "a.b", "a-b"). */
async function trickyRepository(): Promise<{ repo: string; head: string }> {
  const repo = tempDir('afb-objects-')
  dirs.push(repo)
  await git(repo, 'init', '-q', '--initial-branch=main')
  for (const file of ['a/x', 'a.b', 'a-b', 'a0', 'workflows/old.json', 'workflows/keep/deep.txt', 'Zeta', 'ünïcode/ß.txt', 'link-target']) {
    mkdirSync(path.join(repo, path.dirname(file)), { recursive: true })
    writeFileSync(path.join(repo, file), `${file}\n`)
  }
  await git(repo, 'add', '.')
  await git(repo, 'commit', '-q', '-m', 'tricky')
  return { repo, head: (await git(repo, 'rev-parse', 'HEAD')).trim() }
}

const run = promisify(execFile)

describe('objects written by the service', () => {
  it('when files are set in a tree (new folders, replaced and new files, names that sort differently as folders), then the tree is the one git builds through an index, and fsck --strict is clean', async () => {
    const { repo, head } = await trickyRepository()
    const files = [
      { path: 'workflows/old.json', content: 'replaced\n' },
      { path: 'workflows/new.json', content: 'new\n' },
      { path: 'a/y', content: 'beside x\n' },
      { path: 'a.b', content: 'a file that sorts before the folder a\n' },
      { path: 'new/deeper/still/file.ts', content: 'deep\n' },
      { path: 'ünïcode/ñ.txt', content: 'unicode\n' },
    ]
    const reader = new ObjectReader(repo, identity)
    try {
      const commit = await reader.read(`${head}^{commit}`)
      const root = /^tree ([0-9a-f]+)/.exec(commit?.body.toString('utf8') ?? '')?.[1] ?? ''
      const objects = path.join(repo, '.git', 'objects')
      const blobs = await Promise.all(files.map((f) => writeLooseObject(objects, 'blob', Buffer.from(f.content), 'sha1')))
      const ours = await editTree(new TreeReader(reader, 'sha1'), root, files.map((f, i) => ({ path: f.path, blob: blobs[i] as string })), (type, body) =>
        writeLooseObject(objects, type, body, 'sha1'),
      )

      const index = path.join(repo, '.git', 'test-index')
      const env = { ...process.env, GIT_INDEX_FILE: index }
      await run('git', ['read-tree', head], { cwd: repo, env })
      await run('git', ['update-index', '--add', ...files.flatMap((f, i) => ['--cacheinfo', `100644,${blobs[i]},${f.path}`])], { cwd: repo, env })
      const theirs = (await run('git', ['write-tree'], { cwd: repo, env })).stdout.trim()
      expect(ours).toBe(theirs)
      await git(repo, 'fsck', '--full', '--strict')
    } finally {
      await reader.close()
    }
  })

  it('when a file goes where the tree holds a folder, or a folder where it holds a file, then it is refused as git update-index refuses it', async () => {
    const { repo, head } = await trickyRepository()
    const reader = new ObjectReader(repo, identity)
    try {
      const commit = await reader.read(head)
      const root = /^tree ([0-9a-f]+)/.exec(commit?.body.toString('utf8') ?? '')?.[1] ?? ''
      const trees = new TreeReader(reader, 'sha1')
      const blob = objectId('blob', Buffer.from('x'), 'sha1')
      const discard = async (type: string, body: Buffer) => objectId(type, body, 'sha1')
      await expect(editTree(trees, root, [{ path: 'a', blob }], discard)).rejects.toThrow(RepositoryError)
      await expect(editTree(trees, root, [{ path: 'a0/inside', blob }], discard)).rejects.toThrow(RepositoryError)
      await expect(editTree(trees, root, [{ path: 'x/../y', blob }], discard)).rejects.toThrow(RepositoryError)
      await expect(editTree(trees, root, [{ path: '.git/config', blob }], discard)).rejects.toThrow(RepositoryError)
      expect(await reader.read('refs/heads/no-such-branch^{commit}')).toBeNull()
    } finally {
      await reader.close()
    }
  })

  it('when one folder of the commit conflicts while another is still being written, then the refusal comes only after every write ended (the caller then removes the quarantine)', async () => {
    const { repo, head } = await trickyRepository()
    const reader = new ObjectReader(repo, identity)
    try {
      const commit = await reader.read(head)
      const root = /^tree ([0-9a-f]+)/.exec(commit?.body.toString('utf8') ?? '')?.[1] ?? ''
      const blob = objectId('blob', Buffer.from('x'), 'sha1')
      let writing = 0
      let written = 0
      // the trees under "slow/" take long to write; "a.b/inside" conflicts (a.b is a file) at once
      const slowWrite = async (type: string, body: Buffer) => {
        writing++
        await new Promise((resolve) => setTimeout(resolve, 50))
        written++
        return objectId(type, body, 'sha1')
      }
      const files = [{ path: 'slow/deep/one.json', blob }, { path: 'a.b/inside', blob }]
      await expect(editTree(new TreeReader(reader, 'sha1'), root, files, slowWrite)).rejects.toThrow('a.b appears as both a file and a folder')
      expect(writing).toBeGreaterThan(0)
      expect(written).toBe(writing) // Promise.all would reject here with the "slow/" writes still pending
    } finally {
      await reader.close()
    }
  })

  it('when a commit object is built, then it is byte for byte what git commit-tree makes at the same time', async () => {
    const { repo, head } = await trickyRepository()
    const tree = (await git(repo, 'rev-parse', `${head}^{tree}`)).trim()
    const message = Buffer.from('Add workflow "x"\n\nÜnïcode body.\n\nWorkflow-Id: 1\n')
    const date = new Date(1_700_000_123_000)
    const ours = objectId('commit', commitObject({ tree, parent: head, identity, date, message }), 'sha1')
    const messageFile = path.join(repo, '.git', 'test-message')
    writeFileSync(messageFile, message)
    const offset = -date.getTimezoneOffset()
    const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}${String(Math.abs(offset) % 60).padStart(2, '0')}`
    const stamp = `${date.getTime() / 1000} ${zone}`
    const { name, email } = identity
    const env = { ...process.env, GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: email, GIT_AUTHOR_DATE: stamp, GIT_COMMITTER_DATE: stamp }
    const theirs = (await run('git', ['-c', 'commit.gpgsign=false', 'commit-tree', tree, '-p', head, '-F', messageFile], { cwd: repo, env })).stdout.trim()
    expect(ours).toBe(theirs)
  })

  it('when the identity has characters git trims or drops, then git writes the commit, cleaning it up as it does', async () => {
    expect(identityIsPlain(identity)).toBe(true)
    expect(identityIsPlain({ name: 'Bot Jr.', email: 'bot@example.test' })).toBe(false) // some git versions trim the ".", others keep it
    t = await testApp({ GIT_AUTHOR_NAME: ' "Bot, the <builder>" ', GIT_AUTHOR_EMAIL: 'bot@example.test' })
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })).statusCode).toBe(201)
    expect((await git(t.config.repoPath, 'log', '-1', '--format=%an <%ae>|%cn <%ce>')).trim()).toBe('Bot, the builder <bot@example.test>|Bot, the builder <bot@example.test>')
  })
})

describe('git status, porcelain v2', () => {
  it('when the work tree has staged, unstaged, untracked, renamed, intent-to-add and conflicted paths, then v2 gives the lists v1 gives, and names the branch and the conflict', async () => {
    const repo = tempDir('afb-status-')
    dirs.push(repo)
    await git(repo, 'init', '-q', '--initial-branch=main')
    for (const file of ['conflict.txt', 'old name.txt', 'edited.txt', 'staged.txt']) writeFileSync(path.join(repo, file), `${file}\n${'line\n'.repeat(20)}`)
    await git(repo, 'add', '.')
    await git(repo, 'commit', '-q', '-m', 'base')
    await git(repo, 'checkout', '-q', '-b', 'side')
    writeFileSync(path.join(repo, 'conflict.txt'), 'side\n')
    await git(repo, 'commit', '-q', '-am', 'side')
    await git(repo, 'checkout', '-q', 'main')
    writeFileSync(path.join(repo, 'conflict.txt'), 'main\n')
    await git(repo, 'commit', '-q', '-am', 'main')
    await git(repo, 'merge', '-q', 'side').catch(() => undefined) // stops on the conflict
    await git(repo, 'mv', 'old name.txt', 'new näme.txt')
    writeFileSync(path.join(repo, 'edited.txt'), 'edited\n')
    writeFileSync(path.join(repo, 'staged.txt'), 'staged\n')
    await git(repo, 'add', 'staged.txt')
    writeFileSync(path.join(repo, 'staged.txt'), 'staged, then edited\n')
    writeFileSync(path.join(repo, 'intent.txt'), 'intent\n')
    await git(repo, 'add', '-N', 'intent.txt')
    mkdirSync(path.join(repo, 'new folder'))
    writeFileSync(path.join(repo, 'new folder', 'untracked file.txt'), 'u\n')

    const v1 = parsePorcelain(await git(repo, '-c', 'core.quotepath=off', 'status', '--porcelain=v1', '-z', '--untracked-files=all'))
    const v2 = parsePorcelainV2(await git(repo, '-c', 'core.quotepath=off', 'status', '--porcelain=v2', '-z', '--branch', '--no-ahead-behind', '--untracked-files=all'))
    expect(v2.status).toEqual(v1)
    expect(v1.staged).toContain('new näme.txt')
    expect(v1.untracked).toContain('new folder/untracked file.txt')
    expect(v2.headRef).toBe('refs/heads/main')
    expect(v2.unmerged).toBe(true)

    await git(repo, 'reset', '-q', '--hard')
    await git(repo, 'checkout', '-q', '--detach')
    const detached = parsePorcelainV2(await git(repo, 'status', '--porcelain=v2', '-z', '--branch'))
    expect(detached).toMatchObject({ headRef: null, unmerged: false })
  })
})

describe('a real commit while the person is resolving a merge conflict', () => {
  it('when the index holds a conflict on another path, then the commit lands, the generated files are written, and the conflict stays as it was', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    writeFileSync(path.join(repo, 'notes.txt'), 'base\n')
    await git(repo, 'add', 'notes.txt')
    await git(repo, 'commit', '-q', '-m', 'person: notes')
    await git(repo, 'checkout', '-q', '-b', 'side')
    writeFileSync(path.join(repo, 'notes.txt'), 'side\n')
    await git(repo, 'commit', '-q', '-am', 'side')
    await git(repo, 'checkout', '-q', 'main')
    writeFileSync(path.join(repo, 'notes.txt'), 'main\n')
    await git(repo, 'commit', '-q', '-am', 'main')
    await git(repo, 'merge', '-q', 'side').catch(() => undefined)
    const conflicted = await git(repo, 'ls-files', '-u')
    expect(conflicted).toContain('notes.txt')

    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

    expect(res.statusCode).toBe(201)
    expect(await filesInCommit(repo, res.json().commit.sha)).toHaveLength(5)
    expect(await git(repo, 'ls-files', '-u')).toBe(conflicted) // the conflict's three stages, untouched
    expect((await git(repo, 'status', '--porcelain')).trim()).toBe('UU notes.txt')
  })
})

describe('hooks found without asking git', () => {
  it.each([
    ['a relative core.hooksPath', 'team-hooks'],
    ['an absolute core.hooksPath', null],
  ])('when %s names a refusing pre-commit hook, then the commit is a 409 from that hook', async (_kind, relative) => {
    t = await testApp()
    const repo = t.config.repoPath
    const dir = relative ? path.join(repo, relative) : path.join(t.dir, 'shared-hooks')
    mkdirSync(dir)
    writeFileSync(path.join(dir, 'pre-commit'), '#!/bin/sh\necho "refused by the team hook" >&2\nexit 1\n', { mode: 0o755 })
    await git(repo, 'config', 'core.hooksPath', relative ?? dir)
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    expect(res.statusCode).toBe(409)
    expect(res.json().detail).toContain('refused by the team hook')
  })
})
