/**
 * POST /issues under load, over real HTTP: the service and a bare Fastify 5 route, each a child
 * process started here, loaded in alternating rounds by autocannon (in this process) with the same
 * bodies; then a fresh service under a longer sustained load for its peak RSS.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { cpuMs, freePort, ISSUE_TYPES, memoryMb, opportunity, round, sleep } from './common.js'

const ROOT = path.resolve(import.meta.dirname, '../..')
/** where the service is compiled to for the bench (ignored by git, eslint and vitest); inside the project, so it finds templates/ and package.json */
const BUILD_DIR = path.join(ROOT, '.tmp', 'bench-dist')

export interface IngestOptions {
  connections: number
  rounds: number
  roundSeconds: number
  rssSeconds: number
  /** EXPORT_FORMATS for the service; '' = its default */
  exportFormats: string
  /** true: compile the service with tsc and run the JavaScript (as npm start does); false: run src/server.ts through tsx */
  build: boolean
}

/** The node flags `npm start` gives the service (package.json), so the bench runs it the same way. */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
  return pkg.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'))
}

/** The command that starts the service: compiled once per bench run, as `npm start` runs it. */
function serviceCommand(build: boolean, log: (line: string) => void): string[] {
  if (!build) return ['--import', 'tsx', 'src/server.ts']
  const start = performance.now()
  rmSync(BUILD_DIR, { recursive: true, force: true })
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', BUILD_DIR], { cwd: ROOT, stdio: 'inherit' })
  log(`  service compiled to ${path.relative(ROOT, BUILD_DIR)} in ${((performance.now() - start) / 1000).toFixed(1)} s`)
  return [...startFlags(), path.join(BUILD_DIR, 'src', 'server.js')]
}

interface Target {
  name: 'service' | 'bare'
  child: ChildProcess
  pid: number
  base: string
  /** the child's stdout and stderr, kept for the notes (warnings and errors during the load) */
  output: string[]
  stop(): Promise<void>
}

export interface RoundRow {
  round: number
  target: 'service' | 'bare'
  seconds: number
  requests: number
  req_per_s: number
  p50_ms: number
  p99_ms: number
  non_2xx: number
  errors: number
  cpu_ms_per_req: number
}

export interface IngestResult {
  rounds: RoundRow[]
  service: { req_per_s: number; p50_ms: number; p99_ms_median: number; p99_ms_worst: number; cpu_ms_per_req: number; non_2xx: number; errors: number }
  bare: { req_per_s: number; p50_ms: number; p99_ms_median: number; cpu_ms_per_req: number; non_2xx: number; errors: number }
  ratio: number
  status_codes: Record<string, Record<string, number>>
  rss: { seconds: number; requests: number; req_per_s: number; non_2xx: number; errors: number; idle_mb: number; end_mb: number; peak_mb: number }
  notes: string[]
}

/** The six issue types in turn, each connection cycling through them. */
const REQUESTS = ISSUE_TYPES.map((_, i) => ({
  method: 'POST' as const,
  path: '/issues',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(opportunity(i)),
}))

function collect(child: ChildProcess): string[] {
  const lines: string[] = []
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '' && lines.length < 200) lines.push(line)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return lines
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000)
      child.once('exit', () => {
        clearTimeout(force)
        resolve()
      })
      child.kill('SIGTERM')
    })
}

/** The real service on a free loopback port, its data and repository in `dir`. */
async function startService(command: string[], dir: string, exportFormats: string): Promise<Target> {
  const port = await freePort()
  const child = spawn(process.execPath, command, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATA_DIR: path.join(dir, 'data'),
      REPO_PATH: path.join(dir, 'repo'),
      HOST: '127.0.0.1', // protected mode: no API keys, loopback callers only
      PORT: String(port),
      API_KEYS: '',
      API_KEYS_FILE: '',
      WEBHOOK_SECRET: '',
      RATE_LIMIT_MAX: '1000000000',
      LOG_LEVEL: 'warn',
      GROUP_WINDOW: '0', // every detection a new workflow, as in the issue's measurement
      RETENTION_DAYS: '',
      AUDIT_SIGNING_KEY_FILE: '',
      EXPORT_FORMATS: exportFormats,
    },
  })
  const output = collect(child)
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} at start:\n${output.join('\n')}`)
    try {
      if ((await fetch(`${base}/healthz`)).ok) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`the service did not answer /healthz within 60 s:\n${output.join('\n')}`)
    }
    await sleep(100)
  }
  return { name: 'service', child, pid: child.pid as number, base, output, stop: stopper(child) }
}

/** scripts/bench/bare-server.ts (a bare Fastify 5 POST /issues), through tsx too. */
async function startBare(): Promise<Target> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('scripts', 'bench', 'bare-server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '0' },
  })
  const output: string[] = []
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bare server did not start:\n${output.join('\n')}`)), 60_000)
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')))
    child.stdout?.on('data', (chunk: Buffer) => {
      const m = /listening (\d+)/.exec(chunk.toString('utf8'))
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => reject(new Error(`the bare server exited with ${code}:\n${output.join('\n')}`)))
  })
  return { name: 'bare', child, pid: child.pid as number, base: `http://127.0.0.1:${port}`, output, stop: stopper(child) }
}

async function load(target: Target, connections: number, seconds: number) {
  const cpuBefore = cpuMs(target.pid)
  const result = await autocannon({ url: target.base, connections, duration: seconds, requests: REQUESTS })
  const cpu = cpuMs(target.pid) - cpuBefore
  const answered = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx']
  const codes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) codes[code] = count ?? 0
  return { result, cpu, answered, codes }
}

function addCodes(into: Record<string, number>, codes: Record<string, number>) {
  for (const [code, n] of Object.entries(codes)) into[code] = (into[code] ?? 0) + n
}

export async function runIngest(options: IngestOptions, log: (line: string) => void): Promise<IngestResult> {
  const { connections, rounds, roundSeconds, rssSeconds } = options
  const notes: string[] = []
  const dir = mkdtempSync(path.join(os.tmpdir(), 'afb-bench-ingest-'))
  const statusCodes: Record<string, Record<string, number>> = { service: {}, bare: {} }
  const rows: RoundRow[] = []
  const command = serviceCommand(options.build, log)
  const service = await startService(command, dir, options.exportFormats)
  const bare = await startBare()
  try {
    // warm-up: JIT, SQLite statement cache, connections (not counted)
    for (const target of [service, bare]) await load(target, connections, 2)
    for (let r = 1; r <= rounds; r++) {
      // alternate which goes first, so neither always follows the other's after-effects
      const order = r % 2 === 1 ? [bare, service] : [service, bare]
      for (const target of order) {
        log(`  round ${r}/${rounds}: ${target.name}, ${roundSeconds} s × ${connections} connections`)
        const { result, cpu, answered, codes } = await load(target, connections, roundSeconds)
        addCodes(statusCodes[target.name] as Record<string, number>, codes)
        rows.push({
          round: r,
          target: target.name,
          seconds: result.duration,
          requests: answered,
          req_per_s: Math.round(result['2xx'] / result.duration),
          p50_ms: result.latency.p50,
          p99_ms: result.latency.p99,
          non_2xx: result.non2xx,
          errors: result.errors,
          cpu_ms_per_req: round(cpu / Math.max(1, answered), 3),
        })
      }
    }
  } finally {
    await bare.stop()
    await service.stop()
  }

  // a fresh service, then rssSeconds of the same load: its peak resident memory (VmHWM)
  const rssDir = mkdtempSync(path.join(os.tmpdir(), 'afb-bench-rss-'))
  const fresh = await startService(command, rssDir, options.exportFormats)
  let rss: IngestResult['rss']
  try {
    await load(fresh, connections, 1)
    const idle = memoryMb(fresh.pid, 'VmRSS')
    log(`  peak RSS: service, ${rssSeconds} s × ${connections} connections`)
    const { result, answered, codes } = await load(fresh, connections, rssSeconds)
    addCodes(statusCodes.service as Record<string, number>, codes)
    rss = {
      seconds: result.duration,
      requests: answered,
      req_per_s: Math.round(result['2xx'] / result.duration),
      non_2xx: result.non2xx,
      errors: result.errors,
      idle_mb: round(idle, 1),
      end_mb: round(memoryMb(fresh.pid, 'VmRSS'), 1),
      peak_mb: round(memoryMb(fresh.pid, 'VmHWM'), 1),
    }
  } finally {
    await fresh.stop()
    // LOG_LEVEL=warn: anything logged besides the protected-mode notice is worth a look
    for (const target of [service, bare, fresh]) {
      const logged = target.output.filter((line) => !/PROTECTED MODE/.test(line))
      if (logged.length > 0) notes.push(`${target.name} (pid ${target.pid}) logged ${logged.length} line(s) at warn or above, the first: ${logged[0]?.slice(0, 300)}`)
    }
    rmSync(dir, { recursive: true, force: true })
    rmSync(rssDir, { recursive: true, force: true })
  }

  const summarize = (name: 'service' | 'bare') => {
    const mine = rows.filter((row) => row.target === name)
    const seconds = mine.reduce((s, row) => s + row.seconds, 0)
    const ok = mine.reduce((s, row) => s + row.req_per_s * row.seconds, 0)
    const requests = mine.reduce((s, row) => s + row.requests, 0)
    const cpu = mine.reduce((s, row) => s + row.cpu_ms_per_req * row.requests, 0)
    const med = (pick: (row: RoundRow) => number) => [...mine.map(pick)].sort((a, b) => a - b)[Math.floor(mine.length / 2)] ?? NaN
    return {
      req_per_s: Math.round(ok / seconds),
      p50_ms: med((row) => row.p50_ms),
      p99_ms_median: med((row) => row.p99_ms),
      p99_ms_worst: Math.max(...mine.map((row) => row.p99_ms)),
      cpu_ms_per_req: round(cpu / Math.max(1, requests), 3),
      non_2xx: mine.reduce((s, row) => s + row.non_2xx, 0),
      errors: mine.reduce((s, row) => s + row.errors, 0),
    }
  }
  const svc = summarize('service')
  const { p99_ms_worst: _w, ...bareSummary } = summarize('bare')
  for (const [name, codes] of Object.entries(statusCodes)) {
    const bad = Object.entries(codes).filter(([code]) => !code.startsWith('2'))
    if (bad.length > 0) notes.push(`${name} answered non-2xx: ${bad.map(([code, n]) => `${n} × ${code}`).join(', ')} (req/s counts 2xx answers only)`)
  }
  if (svc.errors + bareSummary.errors + rss.errors > 0) notes.push(`connection errors/timeouts: service ${svc.errors + rss.errors}, bare ${bareSummary.errors}`)
  return { rounds: rows, service: svc, bare: bareSummary, ratio: svc.req_per_s / bareSummary.req_per_s, status_codes: statusCodes, rss, notes }
}
