import { createHash } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/config.js'
import { onPostgres, sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { withStore } from '../helpers/audit.js'
import { git } from '../helpers/git.js'

const SECRETS = {
  engine: 'engine-secret-0123456789',
  ops: 'ops-secret-0123456789abc',
  viewer: 'viewer-secret-0123456789',
  root: 'root-secret-0123456789ab',
}
const API_KEYS = `engine:ingest:${SECRETS.engine},ops:read+commit:${SECRETS.ops},viewer:read:${SECRETS.viewer},root:admin:${SECRETS.root}`
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` })

/**
 * Everything the app's store holds, as text: every row of every table, read on a connection of its
 * own (SQLite or PostgreSQL), as anyone with database access could. On SQLite also the bytes of the
 * file and of its write-ahead log, where recent writes sit until a checkpoint and freed pages keep
 * what was deleted.
 */
async function storedText(t: TestApp): Promise<string> {
  const rows = await withStore(t.config, async (sql) => {
    const tables =
      sql.dialect === 'sqlite'
        ? await sql.all<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
        : await sql.all<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
    expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['audit', 'workflows', 'idempotency_keys']))
    const dump: Record<string, unknown[]> = {}
    for (const { name } of tables) dump[name] = await sql.all(`SELECT * FROM "${name.replaceAll('"', '""')}"`)
    return JSON.stringify(dump)
  })
  const files = onPostgres ? [] : [t.config.databaseFile, `${t.config.databaseFile}-wal`].filter((file) => existsSync(file))
  return rows + files.map((file) => readFileSync(file).toString('latin1')).join('')
}

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('keys and roles', () => {
  it('when no key or an unknown key is sent, then 401 problem+json with a Bearer challenge', async () => {
    t = await testApp({ API_KEYS })
    for (const headers of [{}, bearer('not-a-key-at-all-000000'), { 'x-api-key': 'nope' }]) {
      const res = await t.app.inject({ method: 'GET', url: '/workflows', headers })
      expect(res.statusCode).toBe(401)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.headers['www-authenticate']).toBe('Bearer realm="auto-feature-builder"')
      expect(res.json()).toMatchObject({ status: 401, title: 'Unauthorized' })
    }
  })

  it('when a key lacks the role, then 403 naming the key and the role', async () => {
    t = await testApp({ API_KEYS })
    const ingestReads = await t.app.inject({ method: 'GET', url: '/workflows', headers: bearer(SECRETS.engine) })
    expect(ingestReads.statusCode).toBe(403)
    expect(ingestReads.json().detail).toBe('The key engine lacks the read role this request needs')
    const viewerIngests = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: bearer(SECRETS.viewer) })
    expect(viewerIngests.statusCode).toBe(403)
  })

  it('when each role does its own job, then it is allowed: ingest posts, read previews, commit commits, admin does all', async () => {
    t = await testApp({ API_KEYS })
    const created = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: bearer(SECRETS.engine) })
    expect(created.statusCode).toBe(201)
    const id = created.json().workflow_id
    expect((await t.app.inject({ url: `/workflows/${id}`, headers: { 'x-api-key': SECRETS.viewer } })).statusCode).toBe(200)
    const dry = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id }, headers: bearer(SECRETS.viewer) })
    expect(dry.statusCode).toBe(200)
    expect(dry.json().dry_run).toBe(true)
    expect((await t.app.inject({ url: '/audit', headers: bearer(SECRETS.root) })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: bearer(SECRETS.root) })).statusCode).toBe(201)
  })

  it('when a read-only key asks for a real commit, then 403 and the repository does not move', async () => {
    t = await testApp({ API_KEYS })
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: bearer(SECRETS.engine) })).json().workflow_id
    const head = (await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()
    const refused = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false }, headers: bearer(SECRETS.viewer) })
    expect(refused.statusCode).toBe(403)
    expect(refused.json().detail).toContain('commit role')
    expect((await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()).toBe(head)
    const allowed = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false }, headers: bearer(SECRETS.ops) })
    expect(allowed.statusCode).toBe(201)
  })

  it('when probes and docs are asked without a key, then they answer', async () => {
    t = await testApp({ API_KEYS })
    expect((await t.app.inject('/healthz')).statusCode).toBe(200)
    expect((await t.app.inject('/readyz')).statusCode).toBe(200)
    expect((await t.app.inject('/openapi.json')).statusCode).toBe(200)
    expect((await t.app.inject('/docs/')).statusCode).toBe(200)
    expect((await t.app.inject('/status')).statusCode).toBe(401)
  })

  it('when keys are used, then the audit names the key id and never the key', async () => {
    t = await testApp({ API_KEYS })
    await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity, headers: bearer(SECRETS.engine) })
    await t.app.inject({ method: 'GET', url: `/workflows?api_key=${SECRETS.viewer}`, headers: { 'x-api-key': SECRETS.viewer } })
    await t.app.inject({ method: 'GET', url: '/workflows', headers: bearer(SECRETS.ops.replace('ops', 'xxx')) })
    const items = (await t.app.inject({ url: '/audit', headers: bearer(SECRETS.root) })).json().items
    expect(items.map((e: { actor: string | null; status: number }) => [e.actor, e.status])).toEqual([
      [null, 401],
      ['viewer', 200],
      ['engine', 201],
    ])
    const stored = await storedText(t)
    // the search below reads the entries it is about: the actors are there, their keys are not
    for (const actor of ['engine', 'viewer']) expect(stored).toContain(`\\"actor\\":\\"${actor}\\"`)
    const everything = stored + JSON.stringify(items)
    for (const secret of Object.values(SECRETS)) expect(everything).not.toContain(secret)
  })

  it('when a secret is given as sha256:<hex> or in API_KEYS_FILE, then the plaintext key still works', async () => {
    const dir = tempDir()
    const file = path.join(dir, 'keys')
    writeFileSync(file, `# ops keys\nfiled:read:${'f'.repeat(20)}\n`)
    const hashed = createHash('sha256').update(SECRETS.ops).digest('hex')
    t = await testApp({ API_KEYS: `hashed:read:sha256:${hashed}`, API_KEYS_FILE: file })
    expect((await t.app.inject({ url: '/workflows', headers: bearer(SECRETS.ops) })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/workflows', headers: bearer('f'.repeat(20)) })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/workflows', headers: bearer(`sha256:${hashed}`) })).statusCode).toBe(401)
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('key configuration and protected mode', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ DATA_DIR: '/tmp/unused', ...env })

  it('when an entry is malformed, then start-up fails with a message naming it', () => {
    expect(load({ API_KEYS: 'engine:ingest' })).toThrow(/API_KEYS entry 1 \(engine\): the secret must be at least 16 characters/)
    expect(load({ API_KEYS: `engine:write:${'x'.repeat(16)}` })).toThrow(/unknown: write/)
    expect(load({ API_KEYS: `a b:read:${'x'.repeat(16)}` })).toThrow(/the id must match/)
    expect(load({ API_KEYS: `a:read:${'x'.repeat(16)},a:read:${'y'.repeat(16)}` })).toThrow(/used twice/)
    expect(load({ API_KEYS: 'a:read:sha256:abc' })).toThrow(/64 hex digits/)
    expect(load({ API_KEYS_FILE: '/nonexistent/keys' })).toThrow(ConfigError)
  })

  it('when HOST is not loopback and no keys are configured, then start-up is refused saying what to set', () => {
    expect(load({ HOST: '0.0.0.0' })).toThrow(/HOST=0\.0\.0\.0 would expose the service with no API keys\. Set API_KEYS/)
    expect(load({ HOST: '0.0.0.0', API_KEYS: `a:read:${'x'.repeat(16)}` })).not.toThrow()
    expect(load({ HOST: '127.0.0.1' })).not.toThrow()
    expect(load({ HOST: '::1' })).not.toThrow()
    // an empty variable is unset, as in compose files: no keys, no webhook secret, still refused on 0.0.0.0
    expect(load({ HOST: '0.0.0.0', API_KEYS: '', WEBHOOK_SECRET: '' })).toThrow(/would expose the service with no API keys/)
  })

  it('when no keys are configured, then loopback callers are served and others get 403', async () => {
    t = await testApp()
    expect((await t.app.inject({ url: '/workflows', remoteAddress: '127.0.0.1' })).statusCode).toBe(200)
    const remote = await t.app.inject({ url: '/workflows', remoteAddress: '10.1.2.3' })
    expect(remote.statusCode).toBe(403)
    expect(remote.json().detail).toContain('Protected mode')
  })
})

describe('role messages', () => {
  it('when an ingest key tries a real commit, then the 403 says a real commit needs read and commit', async () => {
    t = await testApp({ API_KEYS })
    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: '5f0c6f8e-8c1b-4a55-9d1e-0f4a3c2b1a00', dry_run: false }, headers: bearer(SECRETS.engine) })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('The key engine lacks the read role this request needs; a preview needs read, a real commit (dry_run: false) needs read and commit')
  })
})
