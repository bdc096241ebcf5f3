import { readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AuditLog, type AuditFacts } from '../../src/audit/log.js'
import { loadConfig } from '../../src/config.js'
import { openDatabase } from '../../src/store/database.js'
import { SqliteDatabase } from '../../src/store/sqlite.js'
import { tempDir } from '../helpers/app.js'
import { signingKeyFile } from '../helpers/audit.js'

const facts = (n: number): AuditFacts => ({
  at: new Date(1_800_000_000_000 + n).toISOString(),
  request_id: `r${n}`,
  method: 'GET',
  path: '/healthz',
  status: 200,
  duration_ms: 0.1,
  ip: null,
  user_agent: null,
  actor: null,
  operation: 'health.live',
  workflow_id: null,
  issue_type: null,
  files: null,
  commit_sha: null,
  dry_run: null,
  pushed: null,
  detail: null,
})

let opened: { dir: string; db: SqliteDatabase; audit: AuditLog } | undefined
afterEach(async () => {
  await opened?.audit.close()
  await opened?.db.close()
  if (opened) rmSync(opened.dir, { recursive: true, force: true })
  opened = undefined
})

describe('appending inside a caller\'s transaction', () => {
  it('when the transaction around an append rolls back, then nothing of it counts: no checkpoint is published and the next entry chains on as if it never was', async () => {
    const dir = tempDir()
    const config = loadConfig({ DATA_DIR: path.join(dir, 'data'), AUDIT_SIGNING_KEY_FILE: signingKeyFile(dir), AUDIT_CHECKPOINT_FILE: path.join(dir, 'checkpoints.jsonl'), AUDIT_CHECKPOINT_EVERY: '1' })
    const db = new SqliteDatabase(openDatabase(config.databaseFile))
    const audit = new AuditLog(db, config)
    await audit.load()
    const errors: unknown[] = []
    await audit.start({ info: () => undefined, warn: () => undefined, error: (fields) => errors.push(fields) })
    opened = { dir, db, audit }

    // not reported as committed: the next append finds it in the database
    await db.transaction((tx) => audit.append(tx, facts(1)))
    await expect(
      db.transaction(async (tx) => {
        await audit.append(tx, facts(2))
        throw new Error('a write after the audit entry failed')
      }),
    ).rejects.toThrow('failed')
    // the rolled-back entry is not reported either: this append finds it missing
    const third = await db.transaction((tx) => audit.append(tx, facts(3)))
    audit.settled(third, true)

    const lines = readFileSync(config.auditCheckpointFile ?? '', 'utf8').trim().split('\n')
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2])
    expect(await audit.head()).toMatchObject({ seq: 2 })
    expect(errors).toEqual([]) // no "changed outside the service" alarm
    expect(await audit.verify({ full: true })).toMatchObject({ ok: true, entries: 2, anchors: { last_anchored: { seq: 2, sources: ['database', 'file'] } } })
  })
})
