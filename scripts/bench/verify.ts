/**
 * GET /audit/verify?full=true over a large log on a listening server, the incremental verify after
 * it, and /healthz asked every 10 ms while a full verify runs.
 */
import type { AddressInfo } from 'node:net'
import { testApp } from '../../tests/helpers/app.js'
import { insertEntries } from '../../tests/helpers/audit.js'
import { round, stats, time, type Stats } from './common.js'

export interface VerifyResult {
  entries: number
  ok: boolean
  full_ms: number
  entries_per_s: number
  incremental_ms: number
  healthz_during_full: Stats
}

export async function runVerify(entries: number, log: (line: string) => void): Promise<VerifyResult> {
  const a = await testApp()
  try {
    const start = performance.now()
    insertEntries(a.config.databaseFile, entries)
    log(`  ${entries.toLocaleString('en')} audit entries written in ${((performance.now() - start) / 1000).toFixed(1)} s; full verify ×3, incremental ×1`)
    await a.app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`
    const verify = async (query: string) => {
      const res = await fetch(`${base}/audit/verify${query}`)
      if (res.status !== 200) throw new Error(`GET /audit/verify${query} answered ${res.status}: ${await res.text()}`)
      return (await res.json()) as { ok: boolean; entries: number }
    }
    await verify('?full=true') // warm-up: starts the verifier thread
    const alone = performance.now()
    const answer = await verify('?full=true')
    const fullMs = performance.now() - alone
    const incrementalMs = await time(() => verify(''))
    // the same full verify again, with /healthz asked every 10 ms while it runs
    let running = true
    const probed = verify('?full=true').finally(() => (running = false))
    const healthz: number[] = []
    while (running) {
      healthz.push(await time(() => fetch(`${base}/healthz`).then((res) => res.text())))
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await probed
    return {
      entries: answer.entries,
      ok: answer.ok,
      full_ms: Math.round(fullMs),
      entries_per_s: Math.round((answer.entries / fullMs) * 1000),
      incremental_ms: round(incrementalMs, 1),
      healthz_during_full: stats(healthz),
    }
  } finally {
    await a.close()
  }
}
