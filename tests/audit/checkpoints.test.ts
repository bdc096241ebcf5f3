import { createPublicKey, createPrivateKey, generateKeyPairSync, verify } from 'node:crypto'
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/audit/chain.js'
import { auditHeadTrailer } from '../../src/audit/log.js'
import { loadConfig } from '../../src/config.js'
import { tempDir, testApp, type TestApp } from '../helpers/app.js'
import { rewriteAndRehash, signingKeyFile, withSql } from '../helpers/audit.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

interface Line {
  msg?: string
  audit_checkpoint?: { seq: number; hash: string; at: string; key_id: string; signature: string }
  recovered?: boolean
}

/** A pino destination that keeps every JSON line. */
function capture() {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk))
      done()
    },
  })
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) }
}

/** An app signing checkpoints with a fresh key; key and checkpoint file sit beside DATA_DIR, not in it. */
async function signingApp(env: Record<string, string> = {}, dir = tempDir()) {
  const keyFile = path.join(dir, 'audit-signing.pem')
  try {
    readFileSync(keyFile)
  } catch {
    signingKeyFile(dir)
  }
  const checkpointFile = path.join(dir, 'audit-checkpoints.jsonl')
  const log = capture()
  const app = await testApp({ AUDIT_SIGNING_KEY_FILE: keyFile, AUDIT_CHECKPOINT_FILE: checkpointFile, AUDIT_CHECKPOINT_EVERY: '5', ...env }, dir, { level: 'info', stream: log.stream })
  const fileLines = () => readFileSync(checkpointFile, 'utf8').split('\n').filter(Boolean)
  const fileCheckpoints = () => fileLines().map((l) => JSON.parse(l) as NonNullable<Line['audit_checkpoint']>)
  return { app, dir, keyFile, checkpointFile, log, fileLines, fileCheckpoints }
}

const requests = async (app: TestApp, n: number) => {
  for (let i = 0; i < n; i++) await app.app.inject('/healthz')
}
const hashAt = (app: TestApp, seq: number) => withSql(app.config.databaseFile, (sql) => sql.prepare('SELECT hash FROM audit WHERE seq = ?').pluck().get(seq) as string)
const verifyOf = async (app: TestApp, query = '') => (await app.app.inject(`/audit/verify${query}`)).json()

describe('signed checkpoints (AUDIT_SIGNING_KEY_FILE)', () => {
  it('when AUDIT_CHECKPOINT_EVERY entries are written, then a checkpoint of the newest goes to the database, the file and the log, verifiable with the public key alone', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 12)
    const stored = withSql(t.config.databaseFile, (sql) => sql.prepare('SELECT seq, hash, at, key_id, signature FROM audit_checkpoints ORDER BY seq').all())
    expect(stored.map((c) => (c as { seq: number }).seq)).toEqual([5, 10])
    expect(s.fileCheckpoints()).toEqual(stored)
    expect(s.log.lines().filter((l) => l.msg === 'audit checkpoint').map((l) => l.audit_checkpoint)).toEqual(stored)
    // what an outside verifier does: the documented bytes, the public key, node:crypto (or any Ed25519 library)
    const publicKey = createPublicKey(createPrivateKey(readFileSync(s.keyFile)))
    for (const c of s.fileCheckpoints()) {
      expect(c.hash).toBe(hashAt(t, c.seq))
      const bytes = Buffer.from(`auto-feature-builder audit checkpoint v1\n${canonicalJson({ at: c.at, hash: c.hash, seq: c.seq })}`)
      expect(verify(null, bytes, publicKey, Buffer.from(c.signature, 'base64'))).toBe(true)
    }
    expect(await verifyOf(t)).toMatchObject({
      ok: true,
      anchors: { signing_key: true, checked: { database: 2, file: 2, request: 0 }, last_anchored: { seq: 10, sources: ['database', 'file'] } },
    })
  })

  it('when an entry is rewritten and every later hash recomputed, then verify fails at the first checkpoint after it', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 12)
    rewriteAndRehash(t.config.databaseFile, 3, (entry) => ({ ...entry, status: 500 }))
    const verify = await verifyOf(t, '?full=true')
    expect(verify).toMatchObject({ ok: false, anchors: { last_anchored: null } })
    expect(verify).not.toHaveProperty('first_bad_seq') // the chain itself is whole again
    expect(verify.problems.map((p: { kind: string; seq: number }) => [p.kind, p.seq])).toEqual([
      ['anchor', 5],
      ['anchor', 10],
    ])
    expect(verify.problems[0].detail).toContain('(database, file)')
    expect(verify.problems[0].detail).toContain('an entry at or below seq 5 was rewritten')
  })

  it('when the forger also deletes the database checkpoints, then the file still catches the rewrite', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 12)
    rewriteAndRehash(t.config.databaseFile, 7, (entry) => ({ ...entry, path: '/elsewhere' }))
    withSql(t.config.databaseFile, (sql) => sql.prepare('DELETE FROM audit_checkpoints').run())
    expect(await verifyOf(t, '?full=true')).toMatchObject({
      ok: false,
      anchors: { checked: { database: 0, file: 2 }, last_anchored: { seq: 5, sources: ['file'] } },
      problems: [{ kind: 'anchor', seq: 10 }],
    })
  })

  it('when the forger re-points the database checkpoints at the rewritten chain, then their signatures no longer verify', async () => {
    const s = await signingApp({ AUDIT_CHECKPOINT_FILE: '' })
    t = s.app
    await requests(t, 6)
    rewriteAndRehash(t.config.databaseFile, 2, (entry) => ({ ...entry, status: 503 }))
    withSql(t.config.databaseFile, (sql) => sql.prepare('UPDATE audit_checkpoints SET hash = (SELECT hash FROM audit WHERE seq = 5) WHERE seq = 5').run())
    expect(await verifyOf(t, '?full=true')).toMatchObject({ ok: false, problems: [{ kind: 'anchor', seq: 5, detail: expect.stringContaining('signature that does not verify') }] })
  })

  it('when checkpoints come from another key, then verify says so', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 5)
    await t.close({ keepDir: true })
    const other = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })
    writeFileSync(s.keyFile, other)
    t = (await signingApp({}, s.dir)).app
    expect(await verifyOf(t)).toMatchObject({ ok: false, problems: [{ kind: 'anchor', seq: 5, detail: expect.stringContaining('signed by another key') }] })
  })

  it('when the newest entries are deleted past a checkpoint and the high-water mark reset, then the checkpoint still shows the truncation', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 7)
    await t.close({ keepDir: true })
    withSql(t.config.databaseFile, (sql) => {
      sql.prepare('DELETE FROM audit WHERE seq >= 4').run()
      sql.prepare("UPDATE sqlite_sequence SET seq = 3 WHERE name = 'audit'").run()
    })
    t = (await signingApp({}, s.dir)).app
    // checkpoints at 5 (every 5 entries) and 7 (shutdown)
    expect(await verifyOf(t)).toMatchObject({ ok: false, high_water_seq: 3, tail_truncated: true, problems: [{ kind: 'truncated', seq: 5 }, { kind: 'truncated', seq: 7 }] })
  })

  it('when a forged checkpoint row far past the head is stored, then it does not hold back the next checkpoints', async () => {
    const s = await signingApp()
    await requests(s.app, 2)
    await s.app.close({ keepDir: true })
    withSql(s.app.config.databaseFile, (sql) =>
      sql.prepare("INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) VALUES (1000000, ?, '2026-01-01T00:00:00Z', 'x', 'x')").run('f'.repeat(64)),
    )
    const restarted = await signingApp({}, s.dir)
    t = restarted.app
    await requests(t, 5)
    expect(restarted.fileCheckpoints().map((c) => c.seq)).toEqual([2, 7]) // at the first shutdown, then 5 entries later
  })
})

describe('checkpoints at shutdown and after a crash', () => {
  it('when the app closes, then the newest entry is checkpointed', async () => {
    const s = await signingApp({ AUDIT_CHECKPOINT_EVERY: '1000' })
    await requests(s.app, 3)
    await s.app.close({ keepDir: true })
    try {
      expect(s.fileCheckpoints()).toMatchObject([{ seq: 3, hash: hashAt(s.app, 3) }])
      expect(s.log.lines().filter((l) => l.msg === 'audit checkpoint')).toHaveLength(1)
    } finally {
      rmSync(s.dir, { recursive: true, force: true })
    }
  })

  it('when the process died between the database commit and the file append, then the next start appends the checkpoint', async () => {
    const s = await signingApp()
    await requests(s.app, 5)
    await s.app.close({ keepDir: true })
    const [line] = s.fileLines()
    writeFileSync(s.checkpointFile, '') // as if the append never happened
    const restarted = await signingApp({}, s.dir)
    t = restarted.app
    expect(restarted.fileLines()).toEqual([line])
    expect(restarted.log.lines().find((l) => l.msg === 'audit checkpoint')).toMatchObject({ recovered: true, audit_checkpoint: { seq: 5 } })
    expect(await verifyOf(t)).toMatchObject({ ok: true })
  })

  it('when the file ends in a line cut short, then the next checkpoint starts on a line of its own and verify reports the cut line', async () => {
    const s = await signingApp()
    await requests(s.app, 5)
    await s.app.close({ keepDir: true })
    appendFileSync(s.checkpointFile, '{"at":"2026-01-01T00:00:00.000Z","ha')
    const restarted = await signingApp({}, s.dir)
    t = restarted.app
    await requests(t, 5)
    expect(restarted.fileLines()).toHaveLength(3)
    expect(restarted.fileCheckpoints).toThrow() // the cut line is not JSON
    expect(JSON.parse(restarted.fileLines()[2] ?? '')).toMatchObject({ seq: 10 })
    expect(await verifyOf(t)).toMatchObject({ ok: false, problems: [{ kind: 'anchor', seq: null, detail: expect.stringContaining('Line 2 of AUDIT_CHECKPOINT_FILE') }] })
  })

  it('when the checkpoint file is deleted, then verify says so', async () => {
    const s = await signingApp()
    t = s.app
    await requests(t, 5)
    rmSync(s.checkpointFile)
    expect(await verifyOf(t)).toMatchObject({ ok: false, problems: [{ kind: 'anchor', detail: expect.stringContaining('does not exist') }] })
  })
})

describe('the head a caller carries (no key needed)', () => {
  it('when there is no key and the log is rewritten while the service is stopped, then only a head the caller carried shows it', async () => {
    const dir = tempDir()
    const first = await testApp({}, dir)
    await requests(first, 6)
    const head = await first.services.audit.head()
    expect(head).toEqual({ seq: 6, hash: hashAt(first, 6) })
    const trailer = auditHeadTrailer(head ?? { seq: 0, hash: '' })
    expect(trailer).toBe(`Audit-Head: 6 ${head?.hash}`)
    const carried = trailer.slice('Audit-Head: '.length) // the value as `git log --format='%(trailers:key=Audit-Head,valueonly)'` prints it
    expect(await verifyOf(first, `?anchor=${encodeURIComponent(carried)}`)).toMatchObject({ ok: true, anchors: { checked: { request: 1 }, last_anchored: { seq: 6, sources: ['request'] } } })
    await first.close({ keepDir: true })

    rewriteAndRehash(first.config.databaseFile, 2, (entry) => ({ ...entry, ip: '10.6.6.6' }))
    t = await testApp({}, dir)
    expect(await verifyOf(t, '?full=true')).toMatchObject({ ok: true, anchors: { signing_key: false, last_anchored: null } })
    expect(await verifyOf(t, `?full=true&anchor=${encodeURIComponent(carried)}`)).toMatchObject({
      ok: false,
      problems: [{ kind: 'anchor', seq: 6, detail: expect.stringContaining('The anchor at seq 6 (request) says hash') }],
    })
  })

  it('when the log is rewritten while the service runs, then the next entry it appends chains onto the entry it wrote, and verify shows the break', async () => {
    t = await testApp()
    await requests(t, 6)
    rewriteAndRehash(t.config.databaseFile, 2, (entry) => ({ ...entry, ip: '10.6.6.6' }))
    await requests(t, 1)
    expect(await verifyOf(t, '?full=true')).toMatchObject({ ok: false, first_bad_seq: 7, problems: [{ kind: 'entry', seq: 7 }] })
  })

  it('when a caller brings a head past the newest entry, then that caller hears of a truncation and the next caller does not', async () => {
    t = await testApp()
    await requests(t, 3)
    expect(await verifyOf(t, `?anchor=99:${'a'.repeat(64)}`)).toMatchObject({ ok: false, tail_truncated: true, problems: [{ kind: 'truncated', seq: 99 }] })
    expect(await verifyOf(t)).toMatchObject({ ok: true, tail_truncated: false, problems: [] })
  })

  it('when the anchor is not "<seq> <hash>", then 400', async () => {
    t = await testApp()
    expect((await t.app.inject('/audit/verify?anchor=7')).statusCode).toBe(400)
  })
})

describe('start-up refusals', () => {
  const dir = tempDir()
  afterEach(() => rmSync(dir, { recursive: true, force: true }))
  const load = (env: Record<string, string>) => () => loadConfig({ DATA_DIR: path.join(dir, 'data'), ...env })

  it('when the key or the checkpoint file is inside DATA_DIR, or the file comes without a key, or the key is not Ed25519, then start-up stops naming the reason', () => {
    const key = signingKeyFile(dir)
    const inside = path.join(dir, 'data', 'k.pem')
    expect(load({ AUDIT_SIGNING_KEY_FILE: inside })).toThrow('AUDIT_SIGNING_KEY_FILE')
    expect(load({ AUDIT_SIGNING_KEY_FILE: inside })).toThrow('inside DATA_DIR')
    expect(load({ AUDIT_SIGNING_KEY_FILE: key, AUDIT_CHECKPOINT_FILE: path.join(dir, 'data', 'sub', 'c.jsonl') })).toThrow('AUDIT_CHECKPOINT_FILE')
    expect(load({ AUDIT_CHECKPOINT_FILE: path.join(dir, 'c.jsonl') })).toThrow('AUDIT_SIGNING_KEY_FILE is not')
    const rsa = path.join(dir, 'rsa.pem')
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
    expect(load({ AUDIT_SIGNING_KEY_FILE: rsa })).toThrow('Ed25519')
    expect(load({ AUDIT_SIGNING_KEY_FILE: key, AUDIT_CHECKPOINT_EVERY: '0' })).toThrow('AUDIT_CHECKPOINT_EVERY')
    expect(load({ AUDIT_SIGNING_KEY_FILE: key, AUDIT_CHECKPOINT_FILE: path.join(dir, 'c.jsonl') })().auditCheckpointFile).toBe(path.join(dir, 'c.jsonl'))
  })
})
