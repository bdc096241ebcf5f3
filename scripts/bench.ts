/**
 * `npm run bench`: wall-clock medians on this machine, real parts only (SQLite file, git repo).
 *  - POST /issues through the full stack (validation, generation, SQLite, audit chain)
 *  - GET /workflows/{id}/preview (the dry run)
 *  - one real commit of a workflow's five files (the three and the two exports) through POST /commits,
 *    beside `git add` + `git commit` of the same files in a shell, measured the same way and turn
 *    about (wall time per operation, median of N)
 *  - GET /audit/verify?full=true over BENCH_AUDIT_ENTRIES entries (200 000) on a listening server,
 *    with /healthz asked again and again while it runs; then the incremental verify
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { sampleOpportunity, tempDir, testApp } from '../tests/helpers/app.js'
import { insertEntries } from '../tests/helpers/audit.js'

const N = Number(process.env.BENCH_N ?? 40)
const ISSUE_TYPES = ['high_churn', 'abandoned_carts', 'revenue_drop', 'payment_failures', 'low_conversion', 'error_spike']

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  return { n: samples.length, median_ms: +at(0.5).toFixed(2), p95_ms: +at(0.95).toFixed(2), min_ms: +(sorted[0] ?? NaN).toFixed(2) }
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

const t = await testApp()
const results: Record<string, ReturnType<typeof stats>> = {}
try {
  // warm-up: JIT, SQLite statement cache, git's own caches
  for (let i = 0; i < 20; i++) await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })

  const ingest: number[] = []
  const ids: string[] = []
  for (let i = 0; i < N * 5; i++) {
    ingest.push(
      await time(async () => {
        const res = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, issue_type: ISSUE_TYPES[i % 6] } })
        ids.push(res.json().workflow_id)
      }),
    )
  }
  results['POST /issues (inject)'] = stats(ingest)

  const preview: number[] = []
  for (let i = 0; i < N; i++) preview.push(await time(() => t.app.inject(`/workflows/${ids[i]}/preview`)))
  results['GET /workflows/{id}/preview'] = stats(preview)

  // One real commit through the API, then the same five files committed by plain git in a shell
  // (write, git add, git commit), turn about: both see the same load on the machine.
  const shellRepo = tempDir('afb-bench-shell-')
  try {
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: shellRepo })
    git('init', '-q', '--initial-branch=main')
    git('commit', '-q', '--allow-empty', '-m', 'init')
    const commits: number[] = []
    const shell: number[] = []
    for (let i = 0; i < N; i++) {
      const id = ids[ids.length - 1 - i] as string
      commits.push(
        await time(async () => {
          const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
          if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`commit failed: ${res.body}`)
        }),
      )
      const set = t.services.store.files(ids[i] as string) ?? []
      shell.push(
        await time(() => {
          for (const f of set) {
            mkdirSync(path.join(shellRepo, path.dirname(f.path)), { recursive: true })
            writeFileSync(path.join(shellRepo, f.path), f.content)
          }
          execFileSync('sh', ['-c', `git add -- ${set.map((f) => `'${f.path}'`).join(' ')} && git -c user.name=bench -c user.email=bench@localhost commit -q -m bench`], { cwd: shellRepo })
        }),
      )
    }
    results['POST /commits dry_run:false (5 files)'] = stats(commits)
    results['shell: git add + git commit (5 files)'] = stats(shell)
  } finally {
    rmSync(shellRepo, { recursive: true, force: true })
  }
} finally {
  await t.close()
}
console.table(results)

const AUDIT_N = Number(process.env.BENCH_AUDIT_ENTRIES ?? 200_000)
const a = await testApp()
try {
  insertEntries(a.config.databaseFile, AUDIT_N)
  await a.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(a.app.server.address() as AddressInfo).port}`
  const verify = async (query: string) => (await fetch(`${base}/audit/verify${query}`)).json() as Promise<{ ok: boolean; entries: number }>
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
  console.table({
    'GET /audit/verify?full=true': { entries: answer.entries, ok: answer.ok, ms: +fullMs.toFixed(0), entries_per_s: Math.round((answer.entries / fullMs) * 1000) },
    'GET /audit/verify (incremental, nothing new)': { entries: answer.entries, ok: answer.ok, ms: +incrementalMs.toFixed(1), entries_per_s: null },
  })
  console.table({ 'GET /healthz during a full verify': stats(healthz) })
} finally {
  await a.close()
}
