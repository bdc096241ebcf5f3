import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('GET /metrics', () => {
  it('when requests were answered, then Prometheus text counts them by route and status, with detections, commits, audit entries and replays', async () => {
    t = await testApp({ GROUP_WINDOW: '24h' })
    const created = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'm1' } })
    await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: { 'idempotency-key': 'm1' } }) // replayed
    await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, severity: 'low' } }) // grouped
    await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: created.json().workflow_id, dry_run: false } })
    await t.app.inject('/no/such/route')
    const res = await t.app.inject('/metrics')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body
    // the replay answers the stored 201 again; the grouped detection is a 200
    expect(text).toContain('afb_http_requests_total{method="POST",route="/issues",status="201"} 2')
    expect(text).toContain('afb_http_requests_total{method="POST",route="/issues",status="200"} 1')
    expect(text).toContain('afb_http_requests_total{method="GET",route="unmatched",status="404"} 1')
    expect(text).toContain('afb_detections_total{issue_type="high_churn",outcome="created"} 1')
    expect(text).toContain('afb_detections_total{issue_type="high_churn",outcome="grouped"} 1')
    expect(text).toContain('afb_commits_total{outcome="committed"} 1')
    expect(text).toContain('afb_idempotent_replays_total 1')
    expect(text).toMatch(/afb_audit_entries_total \d+/)
    expect(text).toMatch(/afb_http_request_duration_seconds_count\{method="POST",route="\/issues",status="201"\} 2/)
  })

  it('when the caller has only the ingest role, then 403: metrics are protected like the other reads', async () => {
    t = await testApp({ API_KEYS: `engine:ingest:${'e'.repeat(20)}` })
    expect((await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${'e'.repeat(20)}` } })).statusCode).toBe(403)
  })
})

describe('the metric names', () => {
  it('when /metrics is read, then it follows the naming rules promtool check metrics lints: counters end in _total, nothing else does, and every family has help', async () => {
    t = await testApp()
    await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    const text = (await t.app.inject('/metrics')).body
    const families = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name: name as string, type: type as string }))
    expect(families.length).toBeGreaterThan(10)
    const misnamed = families.filter(({ name, type }) => (type === 'counter') !== name.endsWith('_total'))
    expect(misnamed).toEqual([])
    const helped = new Set([...text.matchAll(/^# HELP (\S+) \S/gm)].map(([, name]) => name))
    expect(families.filter(({ name }) => !helped.has(name))).toEqual([])
    // the per-type gauges that the dropped *_total sums came from are still there
    expect(families).toEqual(expect.arrayContaining([{ name: 'afb_nodejs_active_handles', type: 'gauge' }, { name: 'afb_nodejs_active_resources', type: 'gauge' }]))
    expect(text).not.toMatch(/^afb_nodejs_active_\w+_total/m)
  })
})
