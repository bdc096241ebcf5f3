import { createHash } from 'node:crypto'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, tempDir, testApp, type TestApp } from './helpers/app.js'
import { git } from './helpers/git.js'
import { PROJECT_ROOT } from './helpers/server.js'
import { storeAsLegacyRow } from './helpers/legacy-row.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

async function create(app: TestApp, body: Record<string, unknown> = sampleOpportunity) {
  const res = await app.app.inject({ method: 'POST', url: '/issues', payload: body })
  expect(res.statusCode).toBe(201)
  return res.json()
}

describe('stored workflows: the generator input and each file digest, not the files', () => {
  it('when a workflow is created, then its row keeps the opportunity and digests only, and every read gives the announced bytes', async () => {
    t = await testApp()
    const created = await create(t, { ...sampleOpportunity, affected_items: ['cust_1', 'cust_2', 'cust_3'] })
    const row = t.sqlite.prepare('SELECT record, artifacts, inputs FROM workflows WHERE id = ?').get(created.workflow_id) as { record: string; artifacts: string; inputs: string }
    expect(row.record).toBe('')
    expect(row.artifacts).toBe('')
    expect(JSON.parse(row.inputs)).toEqual({ opportunity: created.opportunity, files: created.files })
    // five files (three + n8n + make) of about 35 KB are kept as well under 2 KB
    expect(created.files.reduce((n: number, f: { bytes: number }) => n + f.bytes, 0)).toBeGreaterThan(20_000)
    expect(Buffer.byteLength(row.inputs)).toBeLessThan(2_000)

    const read = (await t.app.inject(`/workflows/${created.workflow_id}`)).json()
    expect(read).toEqual(created)
    const preview = (await t.app.inject(`/workflows/${created.workflow_id}/preview`)).json()
    expect(preview.changes.map((c: { path: string; content: string }) => [c.path, sha256(c.content)])).toEqual(
      created.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]),
    )
  })

  it('when the playbook changed between restarts, then an open workflow is a 409 on read, preview and commit, nothing is committed, a new detection replaces it, and a committed one still reads', async () => {
    const dir = tempDir()
    const templates = path.join(dir, 'templates')
    cpSync(path.join(PROJECT_ROOT, 'templates'), templates, { recursive: true })
    const first = await testApp({ TEMPLATES_DIR: templates, GROUP_WINDOW: '24h' }, dir)
    const committed = await create(first)
    expect((await first.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: committed.workflow_id, dry_run: false } })).statusCode).toBe(201)
    const committedRecord = (await first.app.inject(`/workflows/${committed.workflow_id}`)).json()
    const { workflow_id } = await create(first)
    await first.close({ keepDir: true })

    // an upgrade that words the churn playbook differently
    const playbook = path.join(templates, 'high_churn', 'playbook.json')
    writeFileSync(playbook, readFileSync(playbook, 'utf8').replace('churn rate > 5%', 'churn rate above 5%'))
    t = await testApp({ TEMPLATES_DIR: templates, GROUP_WINDOW: '24h' }, dir)
    const headBefore = await git(t.config.repoPath, 'rev-parse', 'HEAD')
    for (const res of [
      await t.app.inject(`/workflows/${workflow_id}`),
      await t.app.inject(`/workflows/${workflow_id}/preview`),
      await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id, dry_run: false } }),
    ]) {
      expect(res.statusCode).toBe(409)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json().type).toMatch(/workflow-not-reproducible$/)
      expect(res.json().detail).toMatch(/workflows\/high_churn_workflow\.json no longer comes out byte for byte.*send its opportunity again/)
    }
    expect(await git(t.config.repoPath, 'rev-parse', 'HEAD')).toBe(headBefore)
    // the committed one is history: its record was kept whole at the commit, so it still reads as it was
    expect((await t.app.inject(`/workflows/${committed.workflow_id}`)).json()).toEqual(committedRecord)
    // the list still shows the open one: summaries come from the columns
    expect((await t.app.inject('/workflows?status=generated')).json().items.map((w: { workflow_id: string }) => w.workflow_id)).toEqual([workflow_id])
    // a new detection of its group does not join it: a new workflow takes its place
    const next = await create(t)
    expect(next.supersedes).toBe(workflow_id)
    const audited = (await t.app.inject(`/audit?workflow_id=${next.workflow_id}`)).json().items[0]
    expect(audited.detail).toBe(`supersedes ${workflow_id}: its files no longer come out of this generator`)
    expect((await t.app.inject('/workflows')).json().items.map((w: { status: string }) => w.status)).toEqual(['generated', 'superseded', 'committed'])
  })

  it('when a platform mapping changed between restarts, then the record still reads, but the preview is a 409 and a new detection does not join it', async () => {
    const dir = tempDir()
    const templates = path.join(dir, 'templates')
    cpSync(path.join(PROJECT_ROOT, 'templates'), templates, { recursive: true })
    const first = await testApp({ TEMPLATES_DIR: templates, GROUP_WINDOW: '24h' }, dir)
    const { workflow_id } = await create(first)
    await first.close({ keepDir: true })

    const mapping = path.join(templates, 'platforms', 'n8n', 'send_email.json')
    writeFileSync(mapping, readFileSync(mapping, 'utf8').replace('"appendAttribution": false', '"appendAttribution": true'))
    t = await testApp({ TEMPLATES_DIR: templates, GROUP_WINDOW: '24h' }, dir)
    expect((await t.app.inject(`/workflows/${workflow_id}`)).statusCode).toBe(200)
    const preview = await t.app.inject(`/workflows/${workflow_id}/preview`)
    expect(preview.statusCode).toBe(409)
    expect(preview.json().detail).toMatch(/workflows\/high_churn_n8n\.json no longer comes out byte for byte/)
    const next = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    expect(next.statusCode).toBe(201)
    expect(next.json().supersedes).toBe(workflow_id)
    expect((await t.app.inject(`/workflows/${next.json().workflow_id}/preview`)).statusCode).toBe(200)
  })

  it('when a row was stored before migration 11 (record and files), then it is read, previewed and committed as it was', async () => {
    t = await testApp()
    const { workflow_id } = await create(t)
    const before = { record: (await t.app.inject(`/workflows/${workflow_id}`)).json(), changes: (await t.app.inject(`/workflows/${workflow_id}/preview`)).json().changes }
    await storeAsLegacyRow(t, workflow_id)
    expect(t.sqlite.prepare('SELECT inputs IS NULL AND length(artifacts) > 20000 FROM workflows WHERE id = ?').pluck().get(workflow_id)).toBe(1)
    expect((await t.app.inject(`/workflows/${workflow_id}`)).json()).toEqual(before.record)
    expect((await t.app.inject(`/workflows/${workflow_id}/preview`)).json().changes).toEqual(before.changes)
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id, dry_run: false } })
    expect(commit.statusCode).toBe(201)
    for (const change of before.changes as { path: string; content: string }[]) {
      expect(await git(t.config.repoPath, 'show', `HEAD:${change.path}`)).toBe(change.content)
    }
  })

  it('when workflows are created and purged, then the counts GET /status reads follow without counting rows', async () => {
    t = await testApp()
    await create(t)
    await create(t)
    const { workflow_id } = await create(t, { ...sampleOpportunity, issue_type: 'error_spike', metric_value: 0.09 })
    expect(t.sqlite.prepare('SELECT issue_type, n FROM workflow_counts ORDER BY issue_type').all()).toEqual([
      { issue_type: 'error_spike', n: 1 },
      { issue_type: 'high_churn', n: 2 },
    ])
    t.sqlite.prepare('DELETE FROM workflows WHERE id = ?').run(workflow_id) // as RETENTION_DAYS does
    const status = (await t.app.inject('/status')).json()
    expect(status.workflows).toEqual({ total: 2, by_type: { high_churn: 2 } })
  })
})
