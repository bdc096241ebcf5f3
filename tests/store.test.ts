import path from 'node:path'
import Database from 'better-sqlite3'
import { rmSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { openDatabase } from '../src/store/database.js'
import { MIGRATIONS } from '../src/store/migrations.js'
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
})
