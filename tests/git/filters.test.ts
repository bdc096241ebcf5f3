import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { git, treeDigest } from '../helpers/git.js'

/**
 * Clean filters (LFS-style) change what git stores for a path. The service runs no filter
 * drivers, so it refuses such target paths instead of storing content git would not.
 */

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

async function newWorkflow(app: TestApp, severity = 'high'): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity } })).json().workflow_id
}
const commit = (app: TestApp, id: string) => app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

/** workflows/* goes through a clean filter that upper-cases; the attribute is committed, so the repository starts clean. */
async function repositoryWithUpperFilter(repo: string): Promise<void> {
  writeFileSync(path.join(repo, '.gitattributes'), 'workflows/* filter=upper\n')
  await git(repo, 'config', 'filter.upper.clean', 'tr a-z A-Z')
  await git(repo, 'config', 'filter.upper.smudge', 'cat')
  await git(repo, 'add', '.gitattributes')
  await git(repo, 'commit', '-q', '-m', 'person: upper-case workflows')
}

describe('target paths with a git filter attribute', () => {
  it('when workflows/* has filter=upper, then the preview names the attribute as a blocker, the commit is a 409, and the repository stays clean and usable', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    await repositoryWithUpperFilter(repo)
    const id = await newWorkflow(t)

    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()
    expect(preview.can_commit).toBe(false)
    expect(preview.blockers).toContain('workflows/high_churn_workflow.json has the git attribute filter=upper: the service runs no filter drivers, so it cannot store the file as git would')
    expect(preview.blockers.filter((b: string) => b.includes('filter='))).toHaveLength(4) // every workflows/ file; tests/ has no filter

    const before = treeDigest(repo)
    const res = await commit(t, id)
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Filtered target path', type: 'urn:auto-feature-builder:problem:filtered-target-path' })
    expect(res.json().detail).toContain('workflows/high_churn_workflow.json (filter=upper)')
    expect(res.json().detail).not.toContain('tests/high_churn_workflow.test.ts')
    expect(treeDigest(repo)).toBe(before)
    expect(await git(repo, 'status', '--porcelain')).toBe('')

    // the way out the detail names: unset the attribute for these paths, and the commit goes through
    writeFileSync(path.join(repo, '.gitattributes'), 'workflows/* filter=upper\nworkflows/high_churn_* -filter\n')
    await git(repo, 'commit', '-q', '-am', 'person: no filter for generated workflows')
    expect((await commit(t, id)).statusCode).toBe(201)
    expect(await git(repo, 'status', '--porcelain')).toBe('')
    expect((await commit(t, await newWorkflow(t, 'low'))).statusCode).toBe(201)
    expect(await git(repo, 'status', '--porcelain')).toBe('')
  })
})
