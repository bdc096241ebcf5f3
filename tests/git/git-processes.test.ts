import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { countGitProcesses, git } from '../helpers/git.js'
import { bareRemote, instance } from '../helpers/remote.js'

/**
 * How many git processes a preview and a real commit start, counted with a `git` first on PATH
 * that logs its arguments and runs the real one. Not a timing: a count, so a step that brings
 * back a process per file or per check is caught. (docs/performance.md has the times.)
 */

let t: TestApp | undefined
let remoteDir: string | undefined
const savedPath = process.env.PATH
afterEach(async () => {
  process.env.PATH = savedPath
  await t?.close()
  t = undefined
  if (remoteDir) rmSync(remoteDir, { recursive: true, force: true })
  remoteDir = undefined
})

async function newWorkflow(app: TestApp, severity = 'high'): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity } })).json().workflow_id
}

/** Two workflows of one type (the second replaces the first's files), then git counted from a warm process on. */
async function twoWorkflowsCounted(app: TestApp): Promise<{ first: string; second: string; taken: () => string[] }> {
  const first = await newWorkflow(app)
  const second = await newWorkflow(app, 'low')
  const taken = countGitProcesses(app.dir)
  await app.app.inject(`/workflows/${first}/preview`) // warm: the git dir is asked of git once per process
  taken()
  return { first, second, taken }
}

describe('git processes per operation', () => {
  it('when a workflow is previewed, dry-run committed and really committed (five files, no hooks), then the preview takes at most 4 git processes and the commit at most 6', async () => {
    t = await testApp()
    const { first, second, taken } = await twoWorkflowsCounted(t)

    expect((await t.app.inject(`/workflows/${first}/preview`)).json().can_commit).toBe(true)
    const preview = taken()
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: first } })).json().dry_run).toBe(true)
    const dryRun = taken()
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: first, dry_run: false } })).statusCode).toBe(201)
    const commit = taken()
    // an update: the preview reads the branch's five blobs for its diffs, the commit replaces them
    expect((await t.app.inject(`/workflows/${second}/preview`)).json().changes.map((c: { action: string }) => c.action)).toContain('update')
    const updatePreview = taken()
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: second, dry_run: false } })).statusCode).toBe(201)
    const updateCommit = taken()

    for (const lines of [preview, dryRun, updatePreview]) expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(4)
    for (const lines of [commit, updateCommit]) expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(6)
    process.env.PATH = savedPath
    expect(await git(t.config.repoPath, 'status', '--porcelain')).toBe('')
  })

  it('when the remote is the truth, then a preview takes at most 5 git processes (the fetch added) and a commit at most 9 (the branch named for the lock, the fetch and the push added)', async () => {
    remoteDir = tempDir('afb-remote-')
    t = await instance(remoteDir, await bareRemote(remoteDir), 'a')
    const { first, second, taken } = await twoWorkflowsCounted(t)

    expect((await t.app.inject(`/workflows/${first}/preview`)).json().can_commit).toBe(true)
    const preview = taken()
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: first, dry_run: false } })).statusCode).toBe(201)
    const commit = taken()
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: second, dry_run: false } })).statusCode).toBe(201)
    const updateCommit = taken()

    expect(preview.length, preview.join('\n')).toBeLessThanOrEqual(5)
    for (const lines of [commit, updateCommit]) expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(9)
    expect(commit.filter((l) => /\b(fetch|push)\b/.test(l))).toHaveLength(2)
    process.env.PATH = savedPath
    expect(await git(t.config.repoPath, 'status', '--porcelain')).toBe('')
  })
})
