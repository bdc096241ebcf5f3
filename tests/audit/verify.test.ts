import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/audit/chain.js'
import { testApp, type TestApp } from '../helpers/app.js'
import { insertEntries, rewriteAndRehash, withSql } from '../helpers/audit.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const verifyOf = async (app: TestApp, query = '') => (await app.app.inject(`/audit/verify${query}`)).json()
const requests = async (app: TestApp, n: number) => {
  for (let i = 0; i < n; i++) await app.app.inject('/healthz')
}

describe('verify runs beside the requests, not in front of them', () => {
  it('when a full verify of 200 000 entries runs, then /healthz on the same listening server is answered before it finishes', async () => {
    t = await testApp()
    insertEntries(t.config.databaseFile, 200_000)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
    const finished: string[] = []
    const received = new Promise((resolve) => t?.app.server.once('request', resolve))
    const verify = fetch(`${base}/audit/verify?full=true`).then(async (res) => {
      const body = await res.json()
      finished.push('verify')
      return body
    })
    await received // the server has the verify request; only now ask for /healthz
    const health = await fetch(`${base}/healthz`)
    finished.push('healthz')
    expect(health.status).toBe(200)
    const answer = await verify
    expect(answer).toMatchObject({ ok: true, mode: 'full' })
    expect(answer.entries).toBeGreaterThanOrEqual(200_000) // the thread's snapshot may start after /healthz was audited
    expect(finished).toEqual(['healthz', 'verify'])
  }, 60_000)

  it('when many verifies are asked at once, then at most one runs and the others share the next run', async () => {
    t = await testApp()
    insertEntries(t.config.databaseFile, 20_000)
    const answers = await Promise.all(Array.from({ length: 8 }, () => verifyOf(t as TestApp, '?full=true')))
    expect(answers.every((a) => a.ok)).toBe(true)
    // run one way, each verify would see the audit entries of those answered before it: 8 different counts
    expect(new Set(answers.map((a) => a.entries)).size).toBeLessThanOrEqual(2)
  })
})

describe('incremental verify', () => {
  it('when verify is asked again, then it reads only the entries written since the last one', async () => {
    t = await testApp()
    await requests(t, 5)
    expect(await verifyOf(t)).toMatchObject({ ok: true, mode: 'full', checked_from_seq: 0, entries: 5 })
    await requests(t, 3) // seq 6 is the verify itself, 7–9 these
    expect(await verifyOf(t)).toMatchObject({ ok: true, mode: 'incremental', checked_from_seq: 5, entries: 9, head: { seq: 9 } })
    expect(await verifyOf(t, '?full=true')).toMatchObject({ ok: true, mode: 'full', checked_from_seq: 0, entries: 10 })
  })

  it('when an entry below the verified position is edited in place, then only a full verify finds it', async () => {
    t = await testApp()
    await requests(t, 5)
    await verifyOf(t)
    withSql(t.config.databaseFile, (sql) => {
      const entry = JSON.parse(sql.prepare('SELECT entry FROM audit WHERE seq = 2').pluck().get() as string)
      sql.prepare('UPDATE audit SET entry = ? WHERE seq = 2').run(canonicalJson({ ...entry, status: 500 }))
    })
    expect(await verifyOf(t)).toMatchObject({ ok: true, mode: 'incremental' }) // the documented blind spot
    expect(await verifyOf(t, '?full=true')).toMatchObject({ ok: false, first_bad_seq: 2 })
  })

  it('when an entry below the verified position is deleted, then the incremental verify goes full and finds the gap', async () => {
    t = await testApp()
    await requests(t, 5)
    await verifyOf(t)
    withSql(t.config.databaseFile, (sql) => sql.prepare('DELETE FROM audit WHERE seq = 3').run())
    expect(await verifyOf(t)).toMatchObject({ ok: false, mode: 'full', first_bad_seq: 4 })
  })

  it('when the log is rewritten up to the verified position, then the incremental verify does not start from it', async () => {
    t = await testApp()
    await requests(t, 5)
    await verifyOf(t)
    rewriteAndRehash(t.config.databaseFile, 2, (entry) => ({ ...entry, status: 500 }))
    expect(await verifyOf(t)).toMatchObject({ mode: 'full', checked_from_seq: 0 })
  })
})
