import { afterEach, describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/audit/chain.js'
import { withSql, withStore } from '../helpers/audit.js'
import { redactedPath } from '../../src/http/audit-hook.js'
import { onPostgres, sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const entries = async (app: TestApp, query = '') => (await app.app.inject(`/audit?limit=100${query}`)).json().items

describe('the audit log', () => {
  it('when requests succeed, fail validation or hit no route, then each writes exactly one entry', async () => {
    t = await testApp()
    const created = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'user-agent': 'income-engine/2.1' } })
    const rejected = await t.app.inject({ method: 'POST', url: '/issues', payload: { issue_type: 'nope' } })
    const missing = await t.app.inject('/no/such/route')
    const malformed = await t.app.inject({ method: 'POST', url: '/issues', payload: '{', headers: { 'content-type': 'application/json' } })

    const items = await entries(t)
    // newest first; the /audit call itself is audited only after it answers
    expect(items.map((e: { request_id: string }) => e.request_id)).toEqual(
      [malformed, missing, rejected, created].map((r) => r.headers['x-request-id']),
    )
    const [m, n, r, c] = items
    expect(c).toMatchObject({
      method: 'POST',
      path: '/issues',
      status: 201,
      operation: 'issue.create',
      workflow_id: created.json().workflow_id,
      issue_type: 'high_churn',
      files: [
        'workflows/high_churn_workflow.json',
        'workflows/high_churn_prompt_templates.json',
        'tests/high_churn_workflow.test.ts',
        'workflows/high_churn_n8n.json',
        'workflows/high_churn_make_blueprint.json',
      ],
      user_agent: 'income-engine/2.1',
      ip: '127.0.0.1',
      actor: null,
      commit_sha: null,
    })
    expect(c.duration_ms).toBeGreaterThan(0)
    expect(r).toMatchObject({ status: 400, operation: 'issue.create', workflow_id: null })
    expect(r.detail).toContain('issue_type')
    expect(n).toMatchObject({ status: 404, operation: 'unmatched', path: '/no/such/route' })
    expect(m).toMatchObject({ status: 400, detail: expect.stringContaining('not valid JSON') })
    expect(items.map((e: { seq: number }) => e.seq)).toEqual([4, 3, 2, 1])
  })

  it('when a query string carries a secret, then the audit path has it redacted', async () => {
    t = await testApp()
    await t.app.inject('/workflows?api_key=hunter2&limit=5&token=abc')
    const [entry] = await entries(t)
    expect(entry.path).toBe('/workflows?api_key=REDACTED&limit=5&token=REDACTED')
    expect(JSON.stringify(await entries(t))).not.toContain('hunter2')
    expect(redactedPath('/x?signature=s&Authorization=a&ok=1')).toBe('/x?signature=REDACTED&Authorization=REDACTED&ok=1')
  })

  it('when filtered by workflow_id, operation and since, then only matching entries', async () => {
    t = await testApp()
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    await t.app.inject(`/workflows/${id}`)
    await t.app.inject('/healthz')
    const forWorkflow = await entries(t, `&workflow_id=${id}`)
    expect(forWorkflow.map((e: { operation: string }) => e.operation)).toEqual(['workflow.get', 'issue.create'])
    const health = await entries(t, '&operation=health.live')
    expect(health).toHaveLength(1)
    expect(await entries(t, `&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([])
  })

  it('when a request quotes a lone surrogate (a field name \\ud800), then its entry stores U+FFFD instead, the store keeps taking writes and the chain verifies', async () => {
    t = await testApp()
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: '{"\\ud800":1}', headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(400)
    const [entry] = await entries(t)
    expect(entry.request_id).toBe(res.headers['x-request-id'])
    expect(entry.detail).toContain('\uFFFD')
    expect(entry.detail).not.toMatch(/\p{Cs}/u)
    expect((await t.app.inject('/readyz')).statusCode).toBe(200)
    expect((await t.app.inject('/audit/verify?full=true')).json()).toMatchObject({ ok: true })
  })

  it('when nothing was touched, then verify is ok and its head is the newest hash', async () => {
    t = await testApp()
    for (let i = 0; i < 5; i++) await t.app.inject('/healthz')
    const verify = (await t.app.inject('/audit/verify')).json()
    const newest = (await entries(t))[1]
    expect(verify).toMatchObject({ ok: true, entries: 5, head_hash: newest.hash, head: { seq: 5, hash: newest.hash }, tail_truncated: false, problems: [] })
    expect(verify).not.toHaveProperty('first_bad_seq')
  })

  it('when one stored entry is edited with plain SQL, then verify fails at that entry', async () => {
    t = await testApp()
    for (let i = 0; i < 6; i++) await t.app.inject('/healthz')
    const sql = t.services.db
    const row = await sql.get<{ entry: string }>('SELECT entry FROM audit WHERE seq = 4')
    const forged = { ...JSON.parse(row?.entry ?? '{}'), status: 500 }
    await sql.run('UPDATE audit SET entry = ? WHERE seq = 4', [canonicalJson(forged)])
    const verify = (await t.app.inject('/audit/verify')).json()
    expect(verify).toMatchObject({ ok: false, first_bad_seq: 4 })
  })

  it('when an entry is deleted, then verify fails at the entry after the gap', async () => {
    t = await testApp()
    for (let i = 0; i < 4; i++) await t.app.inject('/healthz')
    await t.services.db.run('DELETE FROM audit WHERE seq = 2')
    expect((await t.app.inject('/audit/verify')).json()).toMatchObject({ ok: false, first_bad_seq: 3 })
  })

  it('when an entry\'s filter column is set with plain SQL, then the database refuses: the column is computed from the hashed entry', async () => {
    t = await testApp()
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    await t.app.inject('/healthz')
    for (const [column, value] of [['workflow_id', null], ['operation', 'health.live'], ['at', '1999-01-01T00:00:00.000Z']] as const) {
      // SQLite's words, then PostgreSQL's
      await expect(t.services.db.run(`UPDATE audit SET ${column} = ? WHERE seq = 1`, [value])).rejects.toThrow(
        new RegExp(`cannot UPDATE generated column "${column}"|column "${column}" can only be updated to DEFAULT`),
      )
    }
    expect((await entries(t, `&workflow_id=${id}`)).map((e: { seq: number }) => e.seq)).toEqual([1])
    expect((await entries(t, `&since=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).length).toBeGreaterThan(0)
  })

  it('when the audit table is rebuilt with plain filter columns and one is edited to hide an entry, then verify reports the schema', async () => {
    t = await testApp()
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    await t.app.inject('/healthz')
    if (onPostgres) {
      // PostgreSQL can turn a generated column into a plain one in place
      await t.services.db.run('ALTER TABLE audit ALTER COLUMN workflow_id DROP EXPRESSION')
      await t.services.db.run('UPDATE audit SET workflow_id = NULL WHERE seq = 1')
    } else {
      withSql(t.config.databaseFile, (sql) =>
        sql.exec(`
          CREATE TABLE forged (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL, hash TEXT NOT NULL, at TEXT, workflow_id TEXT, operation TEXT);
          INSERT INTO forged SELECT seq, entry, hash, at, workflow_id, operation FROM audit;
          DROP TABLE audit;
          ALTER TABLE forged RENAME TO audit;
          UPDATE audit SET workflow_id = NULL WHERE seq = 1;
        `),
      )
    }
    expect(await entries(t, `&workflow_id=${id}`)).toEqual([]) // the edit hides it from the filter...
    const verify = (await t.app.inject('/audit/verify')).json()
    expect(verify).toMatchObject({ ok: false, schema_intact: false, problems: [{ kind: 'schema', seq: null }] }) // ...and verify says so
  })

  it('when an entry\'s seq is changed with plain SQL, then verify fails at that entry', async () => {
    t = await testApp()
    for (let i = 0; i < 4; i++) await t.app.inject('/healthz')
    await t.services.db.run('UPDATE audit SET seq = 40 WHERE seq = 4')
    expect((await t.app.inject('/audit/verify')).json()).toMatchObject({ ok: false, first_bad_seq: 40, problems: [{ kind: 'entry', seq: 40 }] })
  })

  it('when the newest entries are deleted, then verify reports the truncation and the next entry does not reuse their seq', async () => {
    t = await testApp()
    for (let i = 0; i < 10; i++) await t.app.inject('/healthz')
    await t.services.db.run('DELETE FROM audit WHERE seq >= 7')
    const verify = (await t.app.inject('/audit/verify')).json()
    expect(verify).toMatchObject({ ok: false, entries: 6, head: { seq: 6 }, high_water_seq: 10, tail_truncated: true, problems: [{ kind: 'truncated', seq: 7 }] })
    // the verify request itself was audited: as seq 11, chained onto entry 10 as this process wrote it
    const [newest] = (await t.app.inject('/audit?limit=1')).json().items
    expect(newest).toMatchObject({ seq: 11, operation: 'audit.verify' })
    expect((await t.app.inject('/audit/verify?full=true')).json()).toMatchObject({ ok: false, first_bad_seq: 11, problems: [{ kind: 'missing', seq: 11 }] })
  })

  it('when the newest entries are deleted while the service is down, then after a restart the gap stays visible', async () => {
    const dir = tempDir()
    const first = await testApp({}, dir)
    for (let i = 0; i < 10; i++) await first.app.inject('/healthz')
    await first.close({ keepDir: true })
    await withStore(first.config, (sql) => sql.run('DELETE FROM audit WHERE seq >= 7'))
    t = await testApp({}, dir)
    await t.app.inject('/healthz')
    const verify = (await t.app.inject('/audit/verify')).json()
    expect(verify).toMatchObject({ ok: false, first_bad_seq: 11, head: { seq: 11 }, problems: [{ kind: 'missing', seq: 11, detail: expect.stringMatching(/[Ee]ntries 7–10 are gone/) }] })
    // SQLite: the restarted process chains entry 11 onto entry 6, the newest left; PostgreSQL keeps the
    // head in the database, so entry 11 chains onto the deleted entry 10: both show the gap
  })
})
