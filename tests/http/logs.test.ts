import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

/** A pino destination that keeps every JSON line. */
function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('log lines', () => {
  it('when a request is answered, then its audit entry is also a pino line with the same hash', async () => {
    const log = capture()
    t = await testApp({}, tempDir(), { level: 'info', stream: log.stream })
    const res = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    const line = log.lines().find((l) => l.msg === 'audit')
    expect(line?.audit).toMatchObject({ request_id: res.headers['x-request-id'], status: 201, operation: 'issue.create', workflow_id: res.json().workflow_id })
    const [stored] = (await t.app.inject('/audit?operation=issue.create')).json().items
    expect((line?.audit as { hash: string }).hash).toBe(stored.hash)
  })

  it('when a query string carries a secret, then no log line contains it', async () => {
    const log = capture()
    t = await testApp({}, tempDir(), { level: 'info', stream: log.stream })
    await t.app.inject('/healthz?api_key=s3cret-value-123&token=abc123456')
    const text = JSON.stringify(log.lines())
    expect(text).not.toContain('s3cret-value-123')
    expect(text).not.toContain('abc123456')
    expect(text).toContain('/healthz?api_key=REDACTED&token=REDACTED')
  })

  it('when a real commit is made, then a warning says so, naming the workflow and the sha', async () => {
    const log = capture()
    t = await testApp({}, tempDir(), { level: 'info', stream: log.stream })
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    const sha = (await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })).json().commit.sha
    const warnings = log.lines().filter((l) => l.level === 40)
    expect(warnings.map((w) => w.msg)).toEqual(['REAL COMMIT requested (dry_run: false)', 'REAL COMMIT made'])
    expect(warnings[1]).toMatchObject({ workflow_id: id, sha })
    // a dry run logs no such warning
    await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id } })
    expect(log.lines().filter((l) => l.level === 40)).toHaveLength(2)
  })
})
