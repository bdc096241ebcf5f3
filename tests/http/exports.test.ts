import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { checkMakeBlueprint } from '../helpers/check-make.js'
import { onPostgres, sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { storeAsLegacyRow } from '../helpers/legacy-row.js'
import { filesInCommit } from '../helpers/git.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

async function created(app: TestApp, issueType = 'abandoned_carts'): Promise<{ workflow_id: string; links: Record<string, string> }> {
  const res = await app.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, issue_type: issueType } })
  expect(res.statusCode).toBe(201)
  return res.json()
}

describe('GET /workflows/{id}/exports', () => {
  it('when listed, then the three formats come with links, file names, media types, what is committed and the setup to do', async () => {
    t = await testApp()
    const { workflow_id, links } = await created(t)
    expect(links.exports).toBe(`/workflows/${workflow_id}/exports`)
    const res = await t.app.inject(links.exports as string)
    expect(res.statusCode).toBe(200)
    const { exports } = res.json()
    expect(exports.map((e: Record<string, unknown>) => [e.format, e.filename, e.href, e.committed_with_workflow])).toEqual([
      ['n8n', 'abandoned_carts_n8n.json', `/workflows/${workflow_id}/exports/n8n`, true],
      ['make', 'abandoned_carts_make_blueprint.json', `/workflows/${workflow_id}/exports/make`, true],
      ['zapier', 'abandoned_carts_zapier.md', `/workflows/${workflow_id}/exports/zapier`, false],
    ])
    expect(exports[0].setup).toEqual(expect.arrayContaining([expect.stringMatching(/choose \(or create\) its OpenAI credential/)]))
  })

  it('when one export is fetched, then it is the file with its content type and an attachment name, and it is audited', async () => {
    t = await testApp()
    const { workflow_id, links } = await created(t)
    const n8n = await t.app.inject(`${links.exports}/n8n`)
    expect(n8n.statusCode).toBe(200)
    expect(n8n.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(n8n.headers['content-disposition']).toBe('attachment; filename="abandoned_carts_n8n.json"')
    expect(n8n.json().nodes[0].type).toBe('n8n-nodes-base.webhook')
    // the served file is byte for byte what a commit writes
    expect(n8n.body).toBe((await t.services.store.files(workflow_id))?.find((f) => f.kind === 'n8n')?.content)

    const make = await t.app.inject(`${links.exports}/make`)
    expect(checkMakeBlueprint(make.json())).toEqual([])
    const zapier = await t.app.inject(`${links.exports}/zapier`)
    expect(zapier.headers['content-type']).toBe('text/markdown; charset=utf-8')
    expect(zapier.body).toMatch(/Webhooks by Zapier → Catch Hook/)

    const [entry] = (await t.app.inject(`/audit?workflow_id=${workflow_id}&operation=export.get`)).json().items
    expect(entry).toMatchObject({ status: 200, operation: 'export.get', files: ['workflows/abandoned_carts_zapier.md'] })
  })

  it('when the format is unknown or the workflow is missing, then a 404 problem names the formats or the id', async () => {
    t = await testApp()
    const { links, workflow_id } = await created(t)
    const unknown = await t.app.inject(`${links.exports}/airflow`)
    expect(unknown.statusCode).toBe(404)
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(unknown.json().detail).toBe('No export format airflow; the formats are n8n, make, zapier')
    const missing = await t.app.inject(`/workflows/${workflow_id.replace(/.$/, (c) => (c === '0' ? '1' : '0'))}/exports/n8n`)
    expect(missing.statusCode).toBe(404)
  })

  it('when the caller has only the ingest role, then 403; a read key gets the file', async () => {
    t = await testApp({ API_KEYS: 'engine:ingest:engine-secret-0123456789,viewer:read:viewer-secret-0123456789' })
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { authorization: 'Bearer engine-secret-0123456789' } })
    const url = `${res.json().links.exports}/make`
    expect((await t.app.inject({ url, headers: { authorization: 'Bearer engine-secret-0123456789' } })).statusCode).toBe(403)
    expect((await t.app.inject({ url })).statusCode).toBe(401)
    expect((await t.app.inject({ url, headers: { authorization: 'Bearer viewer-secret-0123456789' } })).statusCode).toBe(200)
  })

  // rows from before migration 11 exist only in SQLite databases
  it.skipIf(onPostgres)('when a stored workflow predates data flow, then its export is a 409 that says to send the opportunity again', async () => {
    t = await testApp()
    const { workflow_id } = await created(t)
    await storeAsLegacyRow(t, workflow_id, (record) => {
      delete (record.workflow as Record<string, unknown>).settings
    })
    const res = await t.app.inject(`/workflows/${workflow_id}/exports/n8n`)
    expect(res.statusCode).toBe(409)
    expect(res.json().detail).toMatch(/send its opportunity again/)
  })
})

describe('EXPORT_FORMATS', () => {
  it('when zapier is chosen, then its recipe is generated, previewed and committed beside the three files', async () => {
    t = await testApp({ EXPORT_FORMATS: 'zapier' })
    const { workflow_id } = await created(t, 'payment_failures')
    const preview = (await t.app.inject(`/workflows/${workflow_id}/preview`)).json()
    expect(preview.changes.map((c: { path: string }) => c.path)).toEqual([
      'workflows/payment_failures_workflow.json',
      'workflows/payment_failures_prompt_templates.json',
      'tests/payment_failures_workflow.test.ts',
      'workflows/payment_failures_zapier.md',
    ])
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id, dry_run: false } })
    expect(commit.statusCode).toBe(201)
    expect(await filesInCommit(t.config.repoPath, commit.json().commit.sha)).toContain('workflows/payment_failures_zapier.md')
  })

  it('when none is chosen, then only the three files are generated, and the exports are still served', async () => {
    t = await testApp({ EXPORT_FORMATS: 'none' })
    const { workflow_id, links } = await created(t)
    expect((await t.app.inject(`/workflows/${workflow_id}`)).json().files).toHaveLength(3)
    const list = (await t.app.inject(links.exports as string)).json().exports
    expect(list.map((e: { committed_with_workflow: boolean }) => e.committed_with_workflow)).toEqual([false, false, false])
    expect((await t.app.inject(`${links.exports}/n8n`)).statusCode).toBe(200)
  })

  it('when a format is unknown, then start-up stops naming it and the choices', () => {
    expect(() => loadConfig({ EXPORT_FORMATS: 'n8n,airflow' })).toThrow(ConfigError)
    expect(() => loadConfig({ EXPORT_FORMATS: 'n8n,airflow' })).toThrow(/EXPORT_FORMATS: unknown format airflow; choose from n8n, make, zapier/)
    expect(loadConfig({ EXPORT_FORMATS: ' make , n8n ' }).exportFormats).toEqual(['n8n', 'make'])
  })
})
