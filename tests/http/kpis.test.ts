import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { buildRules } from '../../src/kpis/rules.js'
import { loadPlaybooks } from '../../src/playbooks/load.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const GROUPING = { GROUP_WINDOW: '24h' }
const kpis = (app: TestApp, payload: unknown, headers: Record<string, string> = {}) => app.app.inject({ method: 'POST', url: '/kpis', payload: payload as object, headers })
/** a number from the store, whichever it is */
const count = async (app: TestApp, sql: string) => (await app.services.db.get<{ n: number }>(`SELECT (${sql}) AS n`))?.n

describe('POST /kpis: the six rules at their exact boundaries', () => {
  // [metric, at the threshold (no breach), just past it (breach), just short of it]
  const CASES: [string, number, number, number][] = [
    ['churn_rate', 0.05, 0.0500001, 0.0499999],
    ['cart_abandonment_rate', 0.2, 0.2000001, 0.1999999],
    ['revenue_change', -0.15, -0.1500001, -0.1499999],
    ['payment_success_rate', 0.9, 0.8999999, 0.9000001],
    ['conversion_rate', 0.03, 0.0299999, 0.0300001],
    ['error_rate', 0.01, 0.0100001, 0.0099999],
  ]

  it.each(CASES)('when %s is at, just past and just short of its threshold, then only just past is a breach (medium)', async (metric, at, past, short) => {
    t = await testApp()
    for (const [value, breached] of [[at, false], [past, true], [short, false]] as const) {
      const res = await kpis(t, { metrics: { [metric]: value } })
      expect(res.statusCode, `${metric}=${value}`).toBe(breached ? 201 : 200)
      const [evaluation] = res.json().evaluations
      expect(evaluation).toMatchObject({ metric, observed: value, breached, severity: breached ? 'medium' : null })
      expect(res.json().workflows).toHaveLength(breached ? 1 : 0)
    }
  })

  it('when the margin grows, then the severity follows the playbook bands (churn 5–7.5% medium, 7.5–10% high, above critical)', async () => {
    t = await testApp({ GROUP_WINDOW: '0' })
    const severityAt = async (v: number) => (await kpis(t!, { metrics: { churn_rate: v } })).json().evaluations[0]
    expect(await severityAt(0.06)).toMatchObject({ severity: 'medium', margin: 0.01 })
    expect(await severityAt(0.075)).toMatchObject({ severity: 'high' })
    expect(await severityAt(0.099)).toMatchObject({ severity: 'high' })
    expect(await severityAt(0.1)).toMatchObject({ severity: 'critical', margin: 0.05 })
    expect((await kpis(t, { metrics: { payment_success_rate: 0.65 } })).json().evaluations[0]).toMatchObject({ severity: 'critical', margin: 0.25 })
  })

  it('when a rate is sent as a percentage or a value is not a number, then a 400 names the metric and says what to send', async () => {
    t = await testApp()
    const percent = await kpis(t, { metrics: { churn_rate: 8 } })
    expect(percent.statusCode).toBe(400)
    expect(percent.json().errors).toEqual([{ path: 'metrics.churn_rate', in: 'body', message: expect.stringMatching(/send 0\.08 for 8%/) }])
    const conversion = await kpis(t, { metrics: { conversion_rate: 1.5 } })
    expect(conversion.json().errors[0]).toMatchObject({ path: 'metrics.conversion_rate' })
    const notNumber = await kpis(t, { metrics: { error_rate: 'NaN' } })
    expect(notNumber.statusCode).toBe(400)
    expect(notNumber.json().errors[0].path).toBe('metrics.error_rate')
    const unknown = await kpis(t, { metrics: { churn: 0.1 } })
    expect(unknown.statusCode).toBe(400)
    expect(JSON.stringify(unknown.json().errors)).toMatch(/churn_rate, conversion_rate/)
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(0)
  })

  it('when a snapshot breaches nothing, then 200 with the evaluations, nothing created, and it is audited', async () => {
    t = await testApp()
    const res = await kpis(t, { metrics: { churn_rate: 0.01, error_rate: 0.001 }, source: 'make' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ evaluations: [expect.objectContaining({ breached: false }), expect.objectContaining({ breached: false })], workflows: [] })
    const [entry] = (await t.app.inject('/audit?operation=kpi.evaluate')).json().items
    expect(entry).toMatchObject({ status: 200, detail: 'no breach: error_rate 0.001, churn_rate 0.01' })
  })

  it('when Make sends a form, then the metrics are flat fields', async () => {
    t = await testApp()
    const res = await kpis(t, 'churn_rate=0.09&error_rate=0.02&source=make', { 'content-type': 'application/x-www-form-urlencoded' })
    expect(res.statusCode).toBe(201)
    expect(res.json().workflows.map((w: { issue_type: string }) => w.issue_type).sort()).toEqual(['error_spike', 'high_churn'])
  })
})

describe('thresholds per deployment', () => {
  it('when THRESHOLDS lowers churn to 4%, then 0.045 is a breach and GET /thresholds says where each rule comes from', async () => {
    const dir = tempDir('afb-thresholds-')
    const file = path.join(dir, 'thresholds.json')
    writeFileSync(file, JSON.stringify({ error_spike: 0.02, high_churn: 0.06 }))
    t = await testApp({ THRESHOLDS: 'high_churn=0.04', THRESHOLDS_FILE: file })
    expect((await kpis(t, { metrics: { churn_rate: 0.045 } })).json().evaluations[0]).toMatchObject({ threshold: 0.04, breached: true })
    expect((await kpis(t, { metrics: { error_rate: 0.015 } })).json().evaluations[0]).toMatchObject({ threshold: 0.02, breached: false })
    const rules = (await t.app.inject('/thresholds')).json().rules as { issue_type: string; threshold: number; source: string }[]
    const byType = Object.fromEntries(rules.map((r) => [r.issue_type, [r.threshold, r.source]]))
    expect(byType).toMatchObject({ high_churn: [0.04, 'THRESHOLDS'], error_spike: [0.02, 'THRESHOLDS_FILE'], payment_failures: [0.9, 'playbook'] })
    rmSync(dir, { recursive: true, force: true })
  })

  it('when an override names no playbook, lies outside the range or is no number, then start-up stops naming the entry', () => {
    const playbooks = loadPlaybooks(path.join(loadConfig({}).templatesDir))
    const rulesWith = (THRESHOLDS: string) => buildRules(playbooks, loadConfig({ THRESHOLDS }).thresholds)
    expect(() => rulesWith('high_chrun=0.04')).toThrow(/THRESHOLDS: high_chrun=0.04 names no playbook/)
    expect(() => rulesWith('high_churn=4')).toThrow(/high_churn=4 lies outside churn_rate's range \[0, 1\] \(a rate is a fraction: 0\.04 for 4%\)/)
    expect(() => loadConfig({ THRESHOLDS: 'high_churn=four' })).toThrow(ConfigError)
    expect(() => loadConfig({ THRESHOLDS: 'high_churn=four' })).toThrow(/"high_churn=four" is not issue_type=number/)
  })
})

describe('grouping repeated detections', () => {
  it('when churn 0.08 is reported every hour for a day, then one workflow stands for 24 occurrences; a rise to 0.12 supersedes it; after GROUP_WINDOW a new one starts', async () => {
    t = await testApp(GROUPING)
    const answers = []
    for (let hour = 0; hour < 24; hour++) answers.push(await kpis(t, { period: `hour ${hour}`, metrics: { churn_rate: 0.08 } }))
    expect(answers.map((a) => a.statusCode)).toEqual([201, ...Array(23).fill(200)])
    const id = answers[0]!.json().workflows[0].workflow_id
    expect(new Set(answers.map((a) => a.json().workflows[0].workflow_id))).toEqual(new Set([id]))
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(1)
    const record = (await t.app.inject(`/workflows/${id}`)).json()
    expect(record.occurrences).toMatchObject({ count: 24, last_observed: 0.08, highest_severity: 'high' })
    expect(record.occurrences.recent).toHaveLength(20)

    const rise = await kpis(t, { metrics: { churn_rate: 0.12 } })
    expect(rise.statusCode).toBe(201)
    const [critical] = rise.json().workflows
    expect(critical).toMatchObject({ severity: 'critical', outcome: 'superseding', supersedes: id })
    expect((await t.app.inject(`/workflows/${id}`)).json()).toMatchObject({ status: 'superseded', superseded_by: critical.workflow_id })
    expect((await t.app.inject('/workflows?status=superseded')).json().items.map((w: { workflow_id: string }) => w.workflow_id)).toEqual([id])
    expect((await t.app.inject('/workflows?min_occurrences=24')).json().items.map((w: { workflow_id: string }) => w.workflow_id)).toEqual([id])

    // a day later the open workflow is too old to group with
    await t.services.db.run('UPDATE workflows SET created_at = ?', [new Date(Date.now() - 25 * 3_600_000).toISOString()])
    const later = await kpis(t, { metrics: { churn_rate: 0.12 } })
    expect(later.json().workflows[0]).toMatchObject({ outcome: 'created' })
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(3)
  })

  it("when the engine reports 527 abandoned carts through POST /issues, then that count is its reported value and never the metric's observed rate", async () => {
    t = await testApp(GROUPING)
    const carts = { issue_type: 'abandoned_carts', severity: 'high', description: '527 abandoned carts', metric_value: 527 }
    const first = await t.app.inject({ method: 'POST', url: '/issues', payload: carts })
    expect(first.statusCode).toBe(201)
    const id = first.json().workflow_id
    expect(first.json().occurrences).toMatchObject({ last_observed: null, last_reported_value: 527 })

    // a measured rate joins it: the rate is the observed value, the engine's count stays beside it
    const measured = await kpis(t, { metrics: { cart_abandonment_rate: 0.31 } })
    expect(measured.json().workflows[0]).toMatchObject({ workflow_id: id, outcome: 'grouped' })
    await t.app.inject({ method: 'POST', url: '/issues', payload: { ...carts, metric_value: 530 } })
    const read = (await t.app.inject(`/workflows/${id}`)).json().occurrences
    expect(read).toMatchObject({ count: 3, last_observed: 0.31, last_reported_value: 530 })
    expect(read.recent).toEqual([
      { at: expect.any(String), source: 'issues', observed: null, reported_value: 530, severity: 'high' },
      { at: expect.any(String), source: 'kpis', observed: 0.31, reported_value: null, severity: 'high' },
      { at: expect.any(String), source: 'issues', observed: null, reported_value: 527, severity: 'high' },
    ])
  })

  it('when POST /issues repeats a detection, then 200 with the open workflow and grouped: true, no new files; group: false forces a new one; dedup_key groups finer', async () => {
    t = await testApp(GROUPING)
    const first = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    expect(first.statusCode).toBe(201)
    const again = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity: 'medium' } })
    expect(again.statusCode).toBe(200)
    expect(again.json()).toMatchObject({ workflow_id: first.json().workflow_id, grouped: true, occurrences: { count: 2, highest_severity: 'high' } })
    expect(again.headers.location).toBeUndefined()
    const forced = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, group: false } })
    expect(forced.statusCode).toBe(201)
    const storeA = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, dedup_key: 'store-a' } })
    const storeB = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, dedup_key: 'store-b' } })
    const storeA2 = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, dedup_key: 'store-a' } })
    expect([storeA.statusCode, storeB.statusCode, storeA2.statusCode]).toEqual([201, 201, 200])
    expect(storeA2.json().workflow_id).toBe(storeA.json().workflow_id)
    const [grouped] = (await t.app.inject('/audit?operation=issue.grouped')).json().items
    expect(grouped).toMatchObject({ status: 200, workflow_id: storeA.json().workflow_id })
  })

  it('when 20 identical snapshots arrive at once on a listening server, then exactly one workflow and 20 audit entries', async () => {
    t = await testApp(GROUPING)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const address = t.app.server.address() as { port: number }
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`http://127.0.0.1:${address.port}/kpis`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metrics: { cart_abandonment_rate: 0.27 } }) }),
      ),
    )
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses).toEqual([200, ...Array(18).fill(200), 201].sort())
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(1)
    expect(await count(t, 'SELECT occurrence_count FROM workflows')).toBe(20)
    expect(await count(t, `SELECT COUNT(*) FROM audit WHERE operation = 'kpi.evaluate'`)).toBe(20)
  })
})

describe('found in review', () => {
  it('when a form metric is 80 000 digits followed by a letter, then it is a prompt 400 (the number check never backtracks)', async () => {
    t = await testApp()
    const res = await kpis(t, `churn_rate=${'1'.repeat(80_000)}x`, { 'content-type': 'application/x-www-form-urlencoded' })
    expect(res.statusCode).toBe(400)
    expect(res.json().errors[0].path).toBe('metrics.churn_rate')
  })

  it('when a workflow was made with group: false, then later detections neither join nor supersede it', async () => {
    t = await testApp(GROUPING)
    const high = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json()
    const loose = (await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity: 'low', group: false } })).json()
    const medium = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity: 'medium' } })
    expect(medium.statusCode).toBe(200)
    expect(medium.json().workflow_id).toBe(high.workflow_id)
    expect((await t.app.inject(`/workflows/${loose.workflow_id}`)).json()).toMatchObject({ status: 'generated', superseded_by: null, occurrences: { count: 1 } })
  })

  it('when dedup_key is empty (an unmapped Zapier field), then it means no dedup_key', async () => {
    t = await testApp(GROUPING)
    const form = (extra: string) =>
      t!.app.inject({ method: 'POST', url: '/issues', payload: `issue_type=high_churn&severity=high&description=d&metric_value=0.08${extra}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect((await form('&dedup_key=')).statusCode).toBe(201)
    expect((await form('')).statusCode).toBe(200)
  })

  it('when a request fails on our side after deferring its workflow, then nothing of it is stored but its audit entry', async () => {
    t = await testApp()
    // a broken id makes the 201 body fail its response schema: a 500 after the handler deferred its write
    Object.assign(t.services.workflows, { newId: () => 'not-a-uuid' })
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'k1' } })
      expect(res.statusCode).toBe(500)
    }
    expect(await count(t, 'SELECT COUNT(*) FROM workflows')).toBe(0)
    expect(await count(t, `SELECT COUNT(*) FROM audit WHERE operation = 'issue.create' AND entry LIKE '%"status":500,%'`)).toBe(2)
  })

  it('when GROUP_WINDOW is longer than a year, then start-up refuses it', () => {
    expect(() => loadConfig({ GROUP_WINDOW: '200000000d' })).toThrow(/GROUP_WINDOW: 200000000d is longer than a year/)
    expect(loadConfig({ GROUP_WINDOW: '90m' }).groupWindowMs).toBe(5_400_000)
  })

  it('when an unauthenticated caller sends a 15 000-character user agent, then its audit entry stores a bounded prefix', async () => {
    t = await testApp({ API_KEYS: `ops:read:${'r'.repeat(20)}` })
    await t.app.inject({ url: '/workflows', headers: { 'x-api-key': 'wrong', 'user-agent': 'u'.repeat(15_000) } })
    const stored = (await t.services.db.get<{ n: number }>('SELECT length(entry) AS n FROM audit ORDER BY seq DESC LIMIT 1'))?.n ?? 0
    expect(stored).toBeLessThan(1_200)
  })
})

describe('a grouped detection keeps what it said', () => {
  const KEY_A = 'engine-a-secret-0123456789'
  const KEY_B = 'engine-b-secret-0123456789'
  const KEYS = { API_KEYS: `engine-a:ingest+read:${KEY_A},engine-b:ingest+read:${KEY_B}` }
  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` })
  const issue = (app: TestApp, payload: object, headers: Record<string, string> = {}) => app.app.inject({ method: 'POST', url: '/issues', payload, headers })
  const occurrencePages = async (app: TestApp, id: string, limit: number) => {
    const pages = []
    for (let cursor = ''; ; ) {
      const page = (await app.app.inject(`/workflows/${id}/occurrences?limit=${limit}${cursor}`)).json()
      pages.push(page.items)
      if (page.next_cursor === null) return pages
      cursor = `&cursor=${page.next_cursor}`
    }
  }

  it('when key B reports a real churn into the workflow key A opened with six critical values, then its words, accounts, source and key stay readable', async () => {
    t = await testApp({ ...GROUPING, ...KEYS })
    const six = await kpis(
      t,
      { metrics: { churn_rate: 0.12, cart_abandonment_rate: 0.45, revenue_change: -0.5, payment_success_rate: 0.6, conversion_rate: 0.005, error_rate: 0.08 } },
      bearer(KEY_A),
    )
    expect(six.statusCode).toBe(201)
    expect(six.json().workflows.map((w: { severity: string }) => w.severity)).toEqual(Array(6).fill('critical'))
    const id = six.json().workflows.find((w: { issue_type: string }) => w.issue_type === 'high_churn').workflow_id

    const real = await issue(
      t,
      { issue_type: 'high_churn', severity: 'critical', description: 'REAL: churn 14%', metric_value: 0.14, affected_items: ['acct_big_1', 'acct_big_2'], source: 'billing-engine' },
      bearer(KEY_B),
    )
    expect(real.statusCode).toBe(200)
    expect(real.json()).toMatchObject({ workflow_id: id, grouped: true, occurrences: { count: 2, affected_items: ['acct_big_1', 'acct_big_2'], affected_item_count: 2 } })

    const occurrences = (await t.app.inject({ url: `/workflows/${id}/occurrences`, headers: bearer(KEY_A) })).json()
    expect(occurrences).toEqual({
      items: [
        {
          at: expect.any(String),
          source: 'issues',
          observed: null,
          reported_value: 0.14,
          severity: 'critical',
          description: 'REAL: churn 14%',
          affected_items: ['acct_big_1', 'acct_big_2'],
          affected_count: 2,
          opportunity_source: 'billing-engine',
          actor: 'engine-b',
          request_id: real.headers['x-request-id'],
        },
        {
          at: expect.any(String),
          source: 'kpis',
          observed: 0.12,
          reported_value: null,
          severity: 'critical',
          description: 'churn_rate 0.12 > 0.05 (threshold from playbook)',
          affected_items: [],
          affected_count: 0,
          opportunity_source: 'kpis',
          actor: 'engine-a',
          request_id: six.headers['x-request-id'],
        },
      ],
      next_cursor: null,
    })
    expect(JSON.stringify(occurrences)).not.toContain('secret') // the key by its name, never its secret
    expect((await t.app.inject({ url: `/workflows/${id}`, headers: bearer(KEY_A) })).json().occurrences).toMatchObject({
      count: 2,
      // the measured churn and the engine's figure side by side, never one in place of the other
      last_observed: 0.12,
      last_reported_value: 0.14,
      affected_items: ['acct_big_1', 'acct_big_2'],
      affected_item_count: 2,
    })
    const [grouped] = (await t.app.inject({ url: '/audit?operation=issue.grouped', headers: bearer(KEY_A) })).json().items
    expect(grouped).toMatchObject({
      actor: 'engine-b',
      workflow_id: id,
      detail: 'occurrence 2 of the open workflow: "REAL: churn 14%" from "billing-engine"; 2 affected items: ["acct_big_1","acct_big_2"]',
    })

    // a grouped KPI breach is named in its audit entry too
    await kpis(t, { metrics: { churn_rate: 0.11 }, affected_items: { churn_rate: ['cust_9'] }, source: 'make' }, bearer(KEY_A))
    const [evaluated] = (await t.app.inject({ url: '/audit?operation=kpi.evaluate', headers: bearer(KEY_A) })).json().items
    expect(evaluated.detail).toBe(`high_churn grouped ${id} (occurrence 3: "churn_rate 0.11 > 0.05 (threshold from playbook)" from "make"; 1 affected item: ["cust_9"])`)
  })

  it('when 105 detections group into one workflow, then all 106 occurrences are kept and paged newest first; retention purges them with the workflow', async () => {
    t = await testApp(GROUPING)
    const first = (await issue(t, { ...sampleOpportunity, severity: 'medium' })).json()
    for (let i = 0; i < 105; i++) await issue(t, { ...sampleOpportunity, severity: 'low', description: `detection ${i}`, affected_items: [`cust_${i}`] })
    expect(await count(t, `SELECT COUNT(*) FROM occurrences WHERE workflow_id = '${first.workflow_id}'`)).toBe(106)
    const pages = await occurrencePages(t, first.workflow_id, 40)
    expect(pages.map((page) => page.length)).toEqual([40, 40, 26])
    const described = pages.flat().map((o: { description: string }) => o.description)
    expect(described).toEqual([...Array.from({ length: 105 }, (_, i) => `detection ${104 - i}`), sampleOpportunity.description])
    // cust_1 and cust_2 came first; cust_0 … cust_104 add 103 more
    expect((await t.app.inject(`/workflows/${first.workflow_id}`)).json().occurrences).toMatchObject({ count: 106, affected_item_count: 105 })

    await issue(t, { ...sampleOpportunity, severity: 'critical' })
    await t.services.db.run('UPDATE workflows SET created_at = ?', [new Date(Date.now() - 40 * 86_400_000).toISOString()])
    const { purgeExpired } = await import('../../src/store/retention.js')
    expect((await purgeExpired(t.services.db, new Date(), 30)).workflows).toBe(2)
    expect(await count(t, 'SELECT COUNT(*) FROM occurrences')).toBe(0)
    expect(await count(t, 'SELECT COUNT(*) FROM affected_items')).toBe(0)
  })

  it('when the occurrences name 1 090 distinct items, then the workflow shows the first 1 000 and counts 1 090; a 3 000-item detection keeps 100 and its audit entry stays small', async () => {
    t = await testApp(GROUPING)
    // detection k names item_(90k) … item_(90k + 99): each overlaps the one before by 10
    const items = (k: number) => Array.from({ length: 100 }, (_, i) => `item_${90 * k + i}`)
    const id = (await issue(t, { ...sampleOpportunity, affected_items: items(0) })).json().workflow_id
    for (let k = 1; k < 12; k++) expect((await issue(t, { ...sampleOpportunity, affected_items: items(k) })).statusCode).toBe(200)
    const { occurrences } = (await t.app.inject(`/workflows/${id}`)).json()
    expect(occurrences.affected_items).toEqual(Array.from({ length: 1000 }, (_, i) => `item_${i}`))
    expect(occurrences.affected_item_count).toBe(1090)

    const many = Array.from({ length: 3000 }, (_, i) => `${'x'.repeat(30)}_${i}`)
    const big = await issue(t, { ...sampleOpportunity, affected_items: many })
    expect(big.json().occurrences).toMatchObject({ count: 13, affected_item_count: 1190 })
    const [newest] = (await t.app.inject(`/workflows/${id}/occurrences?limit=1`)).json().items
    expect(newest).toMatchObject({ affected_items: many.slice(0, 100), affected_count: 3000 })
    const [grouped] = (await t.app.inject('/audit?operation=issue.grouped')).json().items
    // the count first, then as many of the kept items as the audit's 2 KB detail holds; the occurrence has all 100
    expect(grouped.detail).toContain(`3000 affected items, the first 100 named: ${JSON.stringify(many.slice(0, 10)).slice(0, -1)},`)
    expect(grouped.detail).toMatch(/…\(\d+ more characters\)$/)
    expect(Buffer.byteLength(grouped.detail)).toBeLessThanOrEqual(2048)
  })

  it('when a grouped detection\'s text holds a NUL or a lone surrogate, then it is stored and read back as sent', async () => {
    t = await testApp(GROUPING)
    const id = (await issue(t, sampleOpportunity)).json().workflow_id
    const odd = { ...sampleOpportunity, description: 'a\u0000b', source: 's\ud800', affected_items: ['x\u0000y', 'cust_1'] }
    expect((await issue(t, odd)).statusCode).toBe(200)
    const [newest] = (await t.app.inject(`/workflows/${id}/occurrences`)).json().items
    expect(newest).toMatchObject({ description: 'a\u0000b', opportunity_source: 's\ud800', affected_items: ['x\u0000y', 'cust_1'], affected_count: 2 })
    expect((await t.app.inject(`/workflows/${id}`)).json().occurrences).toMatchObject({ affected_items: ['cust_1', 'cust_2', 'x\u0000y'], affected_item_count: 3 })
  })

  it('when the workflow is unknown or the cursor is not one handed out, then 404 and 400 problems', async () => {
    t = await testApp()
    const unknown = await t.app.inject('/workflows/00000000-0000-4000-8000-000000000000/occurrences')
    expect(unknown.statusCode).toBe(404)
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(unknown.json().detail).toBe('No workflow 00000000-0000-4000-8000-000000000000')
    const id = (await issue(t, sampleOpportunity)).json().workflow_id
    const badCursor = await t.app.inject(`/workflows/${id}/occurrences?cursor=nope`)
    expect(badCursor.statusCode).toBe(400)
    expect(badCursor.json().errors).toEqual([{ path: 'cursor', in: 'querystring', message: 'unknown cursor' }])
  })
})
