import path from 'node:path'
import Database from 'better-sqlite3'
import { rmSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../src/store/database.js'
import { MIGRATIONS } from '../src/store/migrations.js'
import { WorkflowService } from '../src/workflows/service.js'
import { sampleOpportunity, tempDir, testApp } from './helpers/app.js'

describe('the SQLite store', () => {
  it('when the app restarts on the same DATA_DIR, then workflows and the audit chain are still there', async () => {
    const dir = tempDir()
    const first = await testApp({}, dir)
    const id = (await first.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    await first.close({ keepDir: true })

    const second = await testApp({}, dir)
    try {
      const res = await second.app.inject(`/workflows/${id}`)
      expect(res.statusCode).toBe(200)
      expect(res.json().opportunity.description).toBe(sampleOpportunity.description)
      expect((await second.app.inject('/audit/verify')).json()).toMatchObject({ ok: true, entries: 2 })
    } finally {
      await second.close()
    }
  })

  it('when opened, then it runs in WAL mode with every migration recorded once', () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, 'db.sqlite')
      openDatabase(file).close()
      openDatabase(file).close() // a second open must not re-apply anything
      const db = new Database(file, { readonly: true })
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
      expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(MIGRATIONS.map((m) => m.version))
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('when a database from before migration 12 holds an open workflow with a NUL-joined group key, then the upgrade re-keys it as the service now keys detections', () => {
    const dir = tempDir()
    try {
      const file = path.join(dir, 'db.sqlite')
      const old = new Database(file)
      old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)')
      for (const m of MIGRATIONS.filter((m) => m.version <= 11)) {
        old.exec(m.sql)
        old.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, '2026-01-01T00:00:00.000Z')
      }
      const insert = old.prepare(
        `INSERT INTO workflows (id, issue_type, severity, status, created_at, record, artifacts, group_key, dedup_key) VALUES (?, 'high_churn', 'high', 'generated', '2026-01-01T00:00:00.000Z', '', '', ?, ?)`,
      )
      insert.run('w1', 'high_churn\u0000store-17', 'store-17')
      insert.run('w2', 'high_churn\u0000', null)
      insert.run('w3', null, null) // made with group: false
      old.close()

      const db = openDatabase(file)
      const keys = db.prepare('SELECT id, group_key FROM workflows ORDER BY id').all()
      db.close()
      const service = new WorkflowService(new Map(), undefined as never, { exports: { formats: [], mappings: {} as never }, groupWindowMs: 0 })
      expect(keys).toEqual([
        { id: 'w1', group_key: service.groupKey({ issue_type: 'high_churn', dedup_key: 'store-17' }) },
        { id: 'w2', group_key: service.groupKey({ issue_type: 'high_churn', dedup_key: undefined }) },
        { id: 'w3', group_key: null },
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
