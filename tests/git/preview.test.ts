import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { git, treeDigest } from '../helpers/git.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

async function newWorkflow(app: TestApp, payload: Record<string, unknown> = {}): Promise<string> {
  return (await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, ...payload } })).json().workflow_id
}

describe('GET /workflows/{id}/preview (the dry run)', () => {
  it('when previewed on a fresh repository, then five creates (three files and the default n8n and Make exports) with content, diffs, message and a clean bill', async () => {
    t = await testApp()
    const id = await newWorkflow(t)
    const head = (await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()
    const res = await t.app.inject(`/workflows/${id}/preview`)
    expect(res.statusCode).toBe(200)
    const preview = res.json()
    expect(preview).toMatchObject({
      workflow_id: id,
      dry_run: true,
      repository: { path: t.config.repoPath, branch: 'main', head, clean: true, staged: [], unstaged: [], untracked: [] },
      can_commit: true,
      blockers: [],
    })
    expect(preview.changes.map((c: { path: string; action: string }) => [c.path, c.action])).toEqual([
      ['workflows/high_churn_workflow.json', 'create'],
      ['workflows/high_churn_prompt_templates.json', 'create'],
      ['tests/high_churn_workflow.test.ts', 'create'],
      ['workflows/high_churn_n8n.json', 'create'],
      ['workflows/high_churn_make_blueprint.json', 'create'],
    ])
    const stored = (await t.services.store.files(id)) ?? []
    expect(preview.changes.map((c: { content: string }) => c.content)).toEqual(stored.map((f) => f.content))
    expect(preview.changes[0].diff).toContain('--- /dev/null')
    expect(preview.changes[0].diff).toContain('+++ b/workflows/high_churn_workflow.json')
    expect(preview.messages).toEqual([
      'Would create: workflows/high_churn_workflow.json',
      'Would create: workflows/high_churn_prompt_templates.json',
      'Would create: tests/high_churn_workflow.test.ts',
      'Would create: workflows/high_churn_n8n.json',
      'Would create: workflows/high_churn_make_blueprint.json',
      'Ready to commit 5 file(s) to main',
    ])
    expect(preview.commit_message).toMatch(/^Add workflow "Auto-Retention: High Churn" \(high_churn, severity high\)/)
    expect(preview.commit_message.trimEnd().split('\n').at(-1)).toBe(`Workflow-Id: ${id}`)
  })

  it('when previewed, or POSTed to /commits without dry_run or with dry_run true, then .git and the work tree stay byte-identical', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    // a person's work in progress, which a dry run must not even refresh
    await git(repo, 'commit', '--allow-empty', '-m', 'person')
    const before = treeDigest(repo)
    expect((await t.app.inject(`/workflows/${id}/preview`)).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id } })).json().dry_run).toBe(true)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: true } })).json().dry_run).toBe(true)
    expect(
      (await t.app.inject({ method: 'POST', url: '/commits', payload: `workflow_id=${id}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).json()
        .dry_run,
    ).toBe(true)
    expect(treeDigest(repo)).toBe(before)
  })

  it('when dry_run is not exactly a boolean, then 400 and nothing is written', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const id = await newWorkflow(t)
    const before = treeDigest(repo)
    for (const dryRun of ['false', 0, null, 'no', 'FALSE', []]) {
      const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: dryRun } })
      expect(res.statusCode, JSON.stringify(dryRun)).toBe(400)
      expect(res.json().errors.map((e: { path: string }) => e.path)).toEqual(['dry_run'])
    }
    for (const form of ['dry_run=FALSE', 'dry_run=0', 'dry_run=', 'dry_run=false&dry_run=false']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/commits',
        payload: `workflow_id=${id}&${form}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      expect(res.statusCode, form).toBe(400)
    }
    expect(treeDigest(repo)).toBe(before)
    expect((await t.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
  })

  it('when the previewed files are already on the branch, then each is unchanged and can_commit is false', async () => {
    t = await testApp()
    const id = await newWorkflow(t)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })).statusCode).toBe(201)
    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()
    expect(preview.changes.map((c: { action: string; diff: string }) => [c.action, c.diff])).toEqual([
      ['unchanged', ''],
      ['unchanged', ''],
      ['unchanged', ''],
      ['unchanged', ''],
      ['unchanged', ''],
    ])
    expect(preview.can_commit).toBe(false)
    expect(preview.blockers).toEqual(['Nothing would change: the branch already holds these files'])
  })

  it('when a newer workflow of the same type is previewed, then the files are updates with a real diff', async () => {
    t = await testApp()
    const first = await newWorkflow(t)
    await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: first, dry_run: false } })
    const second = await newWorkflow(t, { severity: 'critical' })
    const preview = (await t.app.inject(`/workflows/${second}/preview`)).json()
    expect(preview.changes[0].action).toBe('update')
    expect(preview.changes[0].diff).toContain('--- a/workflows/high_churn_workflow.json')
    expect(preview.changes[0].diff).toContain('-  "severity": "high",')
    expect(preview.changes[0].diff).toContain('+  "severity": "critical",')
    expect(preview.messages[0]).toBe('Would update: workflows/high_churn_workflow.json')
  })

  it('when a target path has local changes, then the preview names it as a blocker', async () => {
    t = await testApp()
    const id = await newWorkflow(t)
    await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    const { appendFile } = await import('node:fs/promises')
    await appendFile(`${t.config.repoPath}/workflows/high_churn_workflow.json`, ' ')
    await git(t.config.repoPath, 'add', '-N', '.')
    const preview = (await t.app.inject(`/workflows/${await newWorkflow(t)}/preview`)).json()
    expect(preview.repository.unstaged).toEqual(['workflows/high_churn_workflow.json'])
    expect(preview.can_commit).toBe(false)
    expect(preview.blockers).toContain('workflows/high_churn_workflow.json has uncommitted local changes')
  })
})

describe('previews in a SHA-256 repository', () => {
  it('when a file the branch already holds is previewed again in a repository made with --object-format=sha256, then it is unchanged, as in a SHA-1 one', async () => {
    const dir = tempDir()
    const repo = path.join(dir, 'repo')
    await git(dir, 'init', '--object-format=sha256', '--initial-branch=main', repo)
    await git(repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--allow-empty', '-m', 'init')
    t = await testApp({ REPO_PATH: repo }, dir)
    expect((await git(repo, 'rev-parse', 'HEAD')).trim()).toHaveLength(64)
    const first = await newWorkflow(t)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: first, dry_run: false } })).statusCode).toBe(201)

    const second = await newWorkflow(t)
    const changes = (await t.app.inject(`/workflows/${second}/preview`)).json().changes as { path: string; action: string }[]
    // the prompt templates of one type and severity are the same bytes for every detection
    expect(changes.find((c) => c.path === 'workflows/high_churn_prompt_templates.json')?.action).toBe('unchanged')
    expect(changes.find((c) => c.path === 'workflows/high_churn_workflow.json')?.action).toBe('update')
  })
})
