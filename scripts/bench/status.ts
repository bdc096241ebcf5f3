/**
 * GET /status at 1 000 and at a large number of workflows: the workflows are written straight into
 * the service's SQLite file (one transaction, one prepared statement), then the app is opened on it.
 */
import { randomUUID } from 'node:crypto'
import { rmSync } from 'node:fs'
import Database from 'better-sqlite3'
import { tempDir, testApp } from '../../tests/helpers/app.js'
import { repositoryStatus } from '../../src/status.js'
import { ISSUE_TYPES, median, round, time } from './common.js'

export interface StatusRow {
  workflows: number
  build_s: number
  median_ms: number
  p95_ms: number
  git_part_ms: number
  rest_ms: number
  /** the same git questions without the status cache: three git processes */
  git_uncached_ms: number
}

/** Adds workflows until the table holds `total`: small synthetic records (/status does not read them). */
function fill(file: string, total: number): number {
  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = OFF')
    db.pragma('cache_size = -262144') // 256 MB: random ids land all over the unique index
    const have = db.prepare('SELECT COUNT(*) FROM workflows').pluck().get() as number
    const insert = db.prepare(
      `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts) VALUES (?, ?, ?, ?, ?, '{"bench":true}', '[]')`,
    )
    const start = Date.UTC(2025, 0, 1)
    db.transaction(() => {
      for (let i = have; i < total; i++) {
        // mostly generated, some committed, some superseded: the mix a long-running instance holds
        const status = i % 20 === 0 ? 'committed' : i % 20 === 1 ? 'superseded' : 'generated'
        insert.run(randomUUID(), ISSUE_TYPES[i % ISSUE_TYPES.length], i % 3 === 0 ? 'high' : 'medium', status, new Date(start + i * 1000).toISOString())
      }
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
    return total - have
  } finally {
    db.close()
  }
}

async function measure(dir: string, workflows: number, calls: number, buildS: number): Promise<StatusRow> {
  const t = await testApp({}, dir)
  try {
    const get = async () => {
      const res = await t.app.inject('/status')
      if (res.statusCode !== 200) throw new Error(`GET /status answered ${res.statusCode}: ${res.body}`)
      const total = (res.json() as { workflows: { total: number } }).workflows.total
      if (total !== workflows) throw new Error(`GET /status counted ${total} workflows, the bench wrote ${workflows}`)
    }
    for (let i = 0; i < 5; i++) await get() // warm-up
    // each call beside the part of /status that asks git (branch, head, distance to the remote) on its own,
    // interleaved, so both series see the same conditions
    const samples: number[] = []
    const git: number[] = []
    const uncached: number[] = []
    for (let i = 0; i < calls; i++) {
      samples.push(await time(get))
      git.push(await time(() => t.services.repositoryStatus.status()))
      uncached.push(await time(() => repositoryStatus(t.services.repository)))
    }
    const sorted = [...samples].sort((a, b) => a - b)
    return {
      workflows,
      build_s: round(buildS, 1),
      median_ms: round(median(samples)),
      p95_ms: round(sorted[Math.floor(0.95 * sorted.length)] ?? NaN),
      git_part_ms: round(median(git)),
      rest_ms: round(Math.max(0, median(samples) - median(git))),
      git_uncached_ms: round(median(uncached)),
    }
  } finally {
    await t.close({ keepDir: true })
  }
}

/** `sizes` ascending: one database grows from the first size to the last. */
export async function runStatus(sizes: number[], calls: number, log: (line: string) => void): Promise<StatusRow[]> {
  const dir = tempDir('afb-bench-status-')
  try {
    const first = await testApp({}, dir) // creates the database and runs the migrations
    const file = first.config.databaseFile
    await first.close({ keepDir: true })
    const rows: StatusRow[] = []
    for (const size of sizes) {
      const start = performance.now()
      const added = fill(file, size)
      const buildS = (performance.now() - start) / 1000
      log(`  ${size.toLocaleString('en')} workflows (${added.toLocaleString('en')} inserted in ${buildS.toFixed(1)} s): ${calls} × GET /status`)
      rows.push(await measure(dir, size, calls, buildS))
    }
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
