import { readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp
beforeAll(async () => {
  t = await testApp()
})
afterAll(() => t.close())

/** Every path below dir (relative), to see that nothing appeared anywhere unexpected. */
function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((p) => !p.startsWith(`repo${path.sep}.git${path.sep}objects`))
    .sort()
}

const HOSTILE = ['../../etc/passwd', '..\\..\\windows\\system32', '/etc/passwd', 'a\u0000b', '%2e%2e%2fx', 'workflows/../../../tmp/x', '$(rm -rf /)', '`id`', '\u202e', '~root']

describe('hostile input', () => {
  it('when traversal-looking and NUL-bearing strings fill every field, then no path is built from them', async () => {
    const before = listTree(t.config.dataDir)
    for (const evil of HOSTILE) {
      for (const field of ['issue_type', 'severity', 'description', 'feature_suggestion', 'source'] as const) {
        const res = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, [field]: evil, affected_items: [evil] } })
        expect([201, 400], `${field}=${JSON.stringify(evil)}`).toContain(res.statusCode)
        if (res.statusCode === 201) {
          expect(res.json().files.map((f: { path: string }) => f.path)).toEqual([
            'workflows/high_churn_workflow.json',
            'workflows/high_churn_prompt_templates.json',
            'tests/high_churn_workflow.test.ts',
            'workflows/high_churn_n8n.json',
            'workflows/high_churn_make_blueprint.json',
          ])
          const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: res.json().workflow_id, dry_run: false } })
          expect([200, 201]).toContain(commit.statusCode)
          expect(commit.json().commit?.files ?? []).not.toContain(evil)
        } else {
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
        }
      }
    }
    const after = listTree(t.config.dataDir)
    const added = after.filter((p) => !before.includes(p))
    // only the generated files (and git's own bookkeeping) may appear, all inside the repository
    for (const p of added) {
      expect(p, p).toMatch(/^(repo\/(workflows\/high_churn_(workflow|prompt_templates|n8n|make_blueprint)\.json|tests\/high_churn_workflow\.test\.ts|\.git\/.*)|auto-feature-builder\.sqlite.*)$/)
    }
  })

  it('when ids in the URL are not UUIDs, then 400 naming id — never a lookup or a path', async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', 'abc', '00000000-0000-0000-0000-00000000000g', '%00', "1' OR '1'='1"]) {
      for (const url of [`/workflows/${id}`, `/workflows/${id}/preview`, `/workflows/${id}/exports`, `/workflows/${id}/exports/n8n`]) {
        const res = await t.app.inject(url)
        expect([400, 404], url).toContain(res.statusCode)
        if (res.statusCode === 400) expect(res.json().errors[0].path).toBe('id')
      }
    }
  })

  it('when numbers are 1e309, NaN-like or Infinity-like, then 400 naming metric_value', async () => {
    const raw = (value: string) =>
      t.app.inject({
        method: 'POST',
        url: '/issues',
        payload: `{"issue_type":"high_churn","severity":"low","description":"x","metric_value":${value}}`,
        headers: { 'content-type': 'application/json' },
      })
    expect((await raw('1e309')).json().errors[0].path).toBe('metric_value')
    expect((await raw('-1e309')).json().errors[0].path).toBe('metric_value')
    for (const v of ['NaN', 'Infinity', '"NaN"', '0x10']) expect((await raw(v)).statusCode, v).toBe(400)
    for (const v of ['NaN', 'Infinity', '-Infinity', '1e309', '0x10', '']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/issues',
        payload: `issue_type=high_churn&severity=low&description=x&metric_value=${encodeURIComponent(v)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      expect(res.statusCode, `form ${v}`).toBe(400)
    }
  })

  it('when a JSON object repeats a key, then 400 naming the key — even deep inside', async () => {
    const send = (payload: string) => t.app.inject({ method: 'POST', url: '/issues', payload, headers: { 'content-type': 'application/json' } })
    const top = await send('{"issue_type":"high_churn","severity":"low","severity":"critical","description":"x","metric_value":1}')
    expect(top.statusCode).toBe(400)
    expect(top.json().errors).toEqual([{ path: 'severity', in: 'body', message: 'duplicate key' }])
    const escaped = await send('{"issue_type":"high_churn","severity":"low","sev\\u0065rity":"critical","description":"x","metric_value":1}')
    expect(escaped.statusCode).toBe(400)
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: '{"workflow_id":"5f0c6f8e-8c1b-4a55-9d1e-0f4a3c2b1a00","dry_run":true,"dry_run":false}', headers: { 'content-type': 'application/json' } })
    expect(commit.statusCode).toBe(400)
    expect(commit.json().errors[0].path).toBe('dry_run')
    // the same key in different objects is fine
    const kpi = await t.app.inject({ method: 'POST', url: '/kpis', payload: '{"metrics":{"churn_rate":0.1},"affected_items":{"churn_rate":["a"]}}', headers: { 'content-type': 'application/json' } })
    expect(kpi.statusCode).toBe(201)
  })

  it('when nesting is 20 000 deep, then 400 — not a crash', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: `{"issue_type":"high_churn","severity":"low","description":${deep},"metric_value":1}`, headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors[0].path).toBe('description')
    const objects = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`
    expect((await t.app.inject({ method: 'POST', url: '/issues', payload: objects, headers: { 'content-type': 'application/json' } })).statusCode).toBe(400)
  })
})
