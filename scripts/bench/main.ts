/**
 * `npm run bench`: every row of the performance issue in one run, each beside its yardstick, then
 * one summary table (measure | result | target | met). Benchmarks measure; the tests check behaviour.
 *
 *  - ingest.ts   POST /issues under load: the service and a bare Fastify route (child processes), peak RSS
 *  - commit.ts   a real commit through the API against git add + git commit; git processes per commit and preview
 *  - status.ts   GET /status at 1 000 and 1 000 000 workflows
 *  - verify.ts   GET /audit/verify?full=true at 200 000 entries, /healthz while it runs
 *  - storage.ts  database bytes per workflow
 *
 * Knobs (environment): BENCH_ONLY (comma list of the parts above), BENCH_CONNECTIONS, BENCH_ROUNDS,
 * BENCH_SECONDS, BENCH_RSS_SECONDS, BENCH_N, BENCH_STATUS_WORKFLOWS, BENCH_STATUS_CALLS,
 * BENCH_AUDIT_ENTRIES, BENCH_STORAGE_N, BENCH_EXPORT_FORMATS, BENCH_BUILD, BENCH_JSON (write the results there).
 */
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import { runCommit, type CommitResult } from './commit.js'
import { envNumber, round, type SummaryRow } from './common.js'
import { runIngest, type IngestResult } from './ingest.js'
import { runStatus, type StatusRow } from './status.js'
import { runStorage, type StorageResult } from './storage.js'
import { runVerify, type VerifyResult } from './verify.js'

const PARTS = ['ingest', 'commit', 'status', 'verify', 'storage'] as const
type Part = (typeof PARTS)[number]

const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
const unknown = only.filter((p) => !(PARTS as readonly string[]).includes(p))
if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown part ${unknown.join(', ')}; choose from ${PARTS.join(', ')}`)
const runs = (part: Part) => only.length === 0 || only.includes(part)

const settings = {
  connections: envNumber('BENCH_CONNECTIONS', 32),
  rounds: envNumber('BENCH_ROUNDS', 3),
  roundSeconds: envNumber('BENCH_SECONDS', 5),
  rssSeconds: envNumber('BENCH_RSS_SECONDS', 30),
  commits: envNumber('BENCH_N', 40),
  statusWorkflows: envNumber('BENCH_STATUS_WORKFLOWS', 1_000_000),
  statusCalls: envNumber('BENCH_STATUS_CALLS', 50),
  auditEntries: envNumber('BENCH_AUDIT_ENTRIES', 200_000),
  storageWorkflows: envNumber('BENCH_STORAGE_N', 2_000),
  exportFormats: process.env.BENCH_EXPORT_FORMATS ?? '',
  // the load part runs the compiled service, as npm start and the image do; BENCH_BUILD=0 runs src/ through tsx (RSS about 35 MB higher)
  build: process.env.BENCH_BUILD !== '0',
}
// '' leaves EXPORT_FORMATS at the service's default (n8n,make: five files a workflow; none: three)
const appEnv: Record<string, string> = settings.exportFormats ? { EXPORT_FORMATS: settings.exportFormats } : {}

const log = (line: string) => console.log(line)
const loadAverage = () => os.loadavg().map((x) => x.toFixed(2)).join(' ')
const cpus = os.cpus().length
const began = performance.now()
const notes: string[] = []

console.log(`npm run bench: Node ${process.version}, ${cpus} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${loadAverage()} at start`)
console.log(`settings: ${JSON.stringify(settings)}`)

const results: {
  ingest?: IngestResult
  commit?: CommitResult
  status?: StatusRow[]
  verify?: VerifyResult
  storage?: StorageResult
} = {}

async function section<T>(part: Part, title: string, run: () => Promise<T>, show: (result: T) => void): Promise<void> {
  if (!runs(part)) return
  console.log(`\n== ${title}`)
  const start = performance.now()
  const result = await run()
  ;(results as Record<Part, unknown>)[part] = result
  show(result)
  console.log(`   (${((performance.now() - start) / 1000).toFixed(0)} s; load average now ${loadAverage()})`)
}

await section(
  'ingest',
  `POST /issues under load: the service vs a bare Fastify 5 route, ${settings.rounds} alternating rounds of ${settings.roundSeconds} s, ${settings.connections} connections`,
  () => runIngest(settings, log),
  (r) => {
    console.table(r.rounds)
    console.table({ service: r.service, bare: r.bare })
    console.log(`   service / bare: ${(r.ratio * 100).toFixed(1)} % of the bare route's req/s; status codes: ${JSON.stringify(r.status_codes)}`)
    console.table({ [`service under ${r.rss.seconds} s of load (fresh process)`]: r.rss })
    notes.push(...r.notes)
  },
)

await section(
  'commit',
  `A real commit through the API (in process) vs git add + git commit of the same files, median of ${settings.commits}`,
  () => runCommit(settings.commits, appEnv, log),
  (r) => {
    console.table({
      'GET /workflows/{id}/preview': r.preview,
      [`POST /commits dry_run:false (${r.files_per_commit} files)`]: r.api_commit,
      [`git add + git commit (${r.files_per_commit} files)`]: r.raw_git,
    })
    console.log(`   API / raw git: ${r.ratio}× (medians)`)
    const g = r.git_processes
    console.table({
      'commit (updates a path)': { git_processes: g.commit_update },
      'commit (creates the paths)': { git_processes: g.commit_create },
      preview: { git_processes: g.preview },
    })
    console.log(`   commit runs: ${g.commit_commands.join(' ')}`)
    console.log(`   commit creating the paths runs: ${g.commit_create_commands.join(' ')}`)
    console.log(`   preview runs: ${g.preview_commands.join(' ')}`)
  },
)

await section(
  'status',
  `GET /status at 1 000 and ${settings.statusWorkflows.toLocaleString('en')} workflows (rows written with SQL), median of ${settings.statusCalls} inject calls`,
  () => runStatus([...new Set([Math.min(1000, settings.statusWorkflows), settings.statusWorkflows])], settings.statusCalls, log),
  (rows) => {
    console.table(rows)
    console.log('   git_part_ms: repository info and remote distance as /status gets them (reused while no ref file changed; median); rest_ms = median_ms − git_part_ms: the database and the rest; git_uncached_ms: the same asked of git every time (three processes)')
  },
)

await section(
  'verify',
  `GET /audit/verify over ${settings.auditEntries.toLocaleString('en')} entries on a listening server`,
  () => runVerify(settings.auditEntries, log),
  (r) => {
    console.table({
      'GET /audit/verify?full=true': { entries: r.entries, ok: r.ok, ms: r.full_ms, entries_per_s: r.entries_per_s },
      'GET /audit/verify (incremental, nothing new)': { entries: r.entries, ok: r.ok, ms: r.incremental_ms, entries_per_s: null },
    })
    console.table({ 'GET /healthz during a full verify': r.healthz_during_full })
  },
)

await section(
  'storage',
  `Database bytes per workflow after ${settings.storageWorkflows.toLocaleString('en')} detections (dbstat, after a WAL checkpoint)`,
  () => runStorage(settings.storageWorkflows, appEnv, log),
  (r) => {
    console.table({ [`bytes per workflow (${r.workflows} workflows)`]: { total: r.bytes_per_workflow, ...r.split, file: r.file_bytes_per_workflow } })
    console.table(Object.fromEntries(Object.entries(r.by_object).map(([name, bytes]) => [name, { bytes_per_workflow: bytes }])))
    console.table(Object.fromEntries(Object.entries(r.workflow_columns).map(([name, bytes]) => [`workflows.${name}`, { value_bytes_per_workflow: bytes }])))
  },
)

// the summary: one line per row of the issue
const summary: SummaryRow[] = []
const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`
const { ingest, commit, status, verify, storage } = results
if (ingest) {
  const s = ingest.service
  summary.push(
    { measure: `POST /issues req/s, ${settings.connections} connections, vs bare Fastify`, result: `${s.req_per_s} vs ${ingest.bare.req_per_s} (${(ingest.ratio * 100).toFixed(1)} %)`, target: '≥ 10 % of bare', met: ingest.ratio >= 0.1 },
    { measure: 'POST /issues p99 (worst round)', result: `${s.p99_ms_worst} ms (median round ${s.p99_ms_median} ms, p50 ${s.p50_ms} ms)`, target: '≤ 15 ms', met: s.p99_ms_worst <= 15 },
    { measure: 'POST /issues CPU per request (service process)', result: `${s.cpu_ms_per_req} ms`, target: '≤ 0.2 ms', met: s.cpu_ms_per_req <= 0.2 },
    { measure: 'POST /issues non-2xx answers / connection errors', result: `${s.non_2xx + ingest.rss.non_2xx} / ${s.errors + ingest.rss.errors}`, target: '0 / 0', met: s.non_2xx + ingest.rss.non_2xx + s.errors + ingest.rss.errors === 0 },
    { measure: `RSS peak under ${ingest.rss.seconds} s of load`, result: `${ingest.rss.peak_mb} MB (idle ${ingest.rss.idle_mb} MB)`, target: '≤ 150 MB', met: ingest.rss.peak_mb <= 150 },
  )
}
if (commit) {
  const g = commit.git_processes
  summary.push(
    { measure: `real commit (${commit.files_per_commit} files), API vs git add + commit`, result: `${commit.api_commit.median_ms} vs ${commit.raw_git.median_ms} ms (${commit.ratio}×)`, target: '≤ 2×', met: commit.ratio <= 2 },
    { measure: 'git processes per commit', result: `${g.commit_update} (first commit of the paths: ${g.commit_create})`, target: '≤ 6', met: Math.max(g.commit_update, g.commit_create) <= 6 },
    { measure: 'git processes per preview', result: `${g.preview}`, target: '≤ 4', met: g.preview <= 4 },
  )
}
if (status && status.length > 0) {
  const small = status[0] as StatusRow
  const large = status[status.length - 1] as StatusRow
  summary.push(
    { measure: `GET /status at ${large.workflows.toLocaleString('en')} workflows`, result: `${large.median_ms} ms (git part ${large.git_part_ms} ms)`, target: '≤ 5 ms', met: large.median_ms <= 5 },
    {
      measure: `GET /status flat from ${small.workflows.toLocaleString('en')} to ${large.workflows.toLocaleString('en')}`,
      result: `${small.median_ms} → ${large.median_ms} ms (rest ${small.rest_ms} → ${large.rest_ms} ms)`,
      target: 'flat: ≤ 1.5× or + 1 ms',
      met: large.median_ms <= Math.max(1.5 * small.median_ms, small.median_ms + 1),
    },
  )
}
if (verify) {
  summary.push({ measure: `GET /audit/verify?full=true (${verify.entries.toLocaleString('en')} entries)`, result: `${verify.entries_per_s.toLocaleString('en')} entries/s${verify.ok ? '' : ' (NOT ok)'}`, target: '≥ 200 000 entries/s', met: verify.ok && verify.entries_per_s >= 200_000 })
}
if (storage) {
  const s = storage.split
  summary.push({
    measure: 'database bytes per workflow',
    result: `${kb(storage.bytes_per_workflow)} (workflows ${kb(s.workflows ?? 0)}, audit ${kb(s.audit ?? 0)}, occurrences ${kb(s.occurrences ?? 0)}, others ${kb(s.others ?? 0)})`,
    target: '≤ 5 KB',
    met: storage.bytes_per_workflow <= 5000,
  })
}

if (ingest) notes.push(`the load generator (autocannon) runs in the bench process on the same ${cpus} CPUs as the service it loads: both targets share them alike, and neither gets the whole machine`)
if (ingest) notes.push(`the service ran ${settings.build ? 'compiled (tsc to .tmp/bench-dist, as npm start runs it)' : 'from src/ through tsx (BENCH_BUILD=0)'}, LOG_LEVEL=warn, GROUP_WINDOW=0, protected mode on loopback; the bare route through tsx`)
if (ingest || commit || storage) {
  const files = commit ? `${commit.files_per_commit} files a workflow` : 'five files a workflow with n8n,make'
  notes.push(`EXPORT_FORMATS=${settings.exportFormats || 'the default (n8n,make)'} for every app the bench starts: ${files} (BENCH_EXPORT_FORMATS=none: three files, less to generate and store)`)
}
notes.push(`load average at the end ${loadAverage()} (${cpus} CPUs): other work on the machine slows every row`)

console.log('\n== Summary')
console.table(summary.map((row) => ({ ...row, met: row.met ? 'yes' : 'no' })))
console.log('Notes:')
for (const note of notes) console.log(`  - ${note}`)
console.log(`bench finished in ${round((performance.now() - began) / 1000, 0)} s`)

if (process.env.BENCH_JSON) {
  writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus, settings, results, summary, notes }, null, 2)}\n`)
  console.log(`results written to ${process.env.BENCH_JSON}`)
}
