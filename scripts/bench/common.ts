/** Shared pieces of `npm run bench`: sample statistics, timers, /proc readings, the opportunity bodies. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export const ISSUE_TYPES = ['high_churn', 'abandoned_carts', 'revenue_drop', 'payment_failures', 'low_conversion', 'error_spike'] as const

/** A realistic detection (the shape tests/helpers/app.ts sampleOpportunity has), of the i-th issue type. */
export function opportunity(i: number) {
  return {
    issue_type: ISSUE_TYPES[i % ISSUE_TYPES.length],
    severity: 'high',
    description: 'Churn rose to 8% this week',
    metric_value: 0.08,
    affected_items: ['cust_1', 'cust_2'],
    source: 'income-engine',
  }
}

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw} is not a number`)
  return n
}

export interface Stats {
  n: number
  median_ms: number
  p95_ms: number
  min_ms: number
}

export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

export const median = (samples: readonly number[]) => quantile(samples, 0.5)

export const round = (x: number, digits = 2) => +x.toFixed(digits)

export function stats(samples: readonly number[]): Stats {
  return { n: samples.length, median_ms: round(median(samples)), p95_ms: round(quantile(samples, 0.95)), min_ms: round(Math.min(...samples)) }
}

/** Wall-clock milliseconds of one call. */
export async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU milliseconds (user + system) a process has used so far. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11]) // field 14 overall
  const stime = Number(fields[12]) // field 15 overall
  return ((utime + stime) / CLK_TCK) * 1000
}

/** A kB line of /proc/<pid>/status (VmRSS, VmHWM), in MB. */
export function memoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(m[1]) / 1024
}

/** A TCP port nothing listens on at the moment (the child is told to listen there). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One line of the final summary. */
export interface SummaryRow {
  measure: string
  result: string
  target: string
  met: boolean
}
