import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sampleOpportunity } from '../helpers/app.js'
import { cleanupServers, PROJECT_ROOT, ServerStartError, startServer, tempDir } from '../helpers/server.js'

const run = promisify(execFile)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

afterEach(cleanupServers)

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function postIssue(base: string, requestId: string, body: object = sampleOpportunity) {
  const res = await fetch(`${base}/issues`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify(body),
  })
  return { status: res.status, location: res.headers.get('location'), body: (await res.json()) as Record<string, unknown> }
}

/** Resolves with the start-up failure of a server that must refuse to start. */
async function refusal(env: Record<string, string>): Promise<ServerStartError> {
  const err = await startServer(env).then(
    (server) => {
      throw new Error(`server started although it should have refused: ${server.url}`)
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ServerStartError)
  return err as ServerStartError
}

describe('the service as a real process', () => {
  it('when started on a fresh DATA_DIR, then it creates the database and a repository with one commit and serves health, readiness and POST /issues', async () => {
    const dataDir = tempDir()
    const server = await startServer({ DATA_DIR: dataDir })

    const dbFile = path.join(dataDir, 'auto-feature-builder.sqlite')
    expect(existsSync(dbFile)).toBe(true)
    expect(readFileSync(dbFile).subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0')
    const { stdout: log } = await run('git', ['-C', path.join(dataDir, 'repo'), 'log', '--oneline'])
    const commits = log.trim().split('\n')
    expect(commits).toHaveLength(1)
    expect(commits[0]).toMatch(/^[0-9a-f]{7,} Initial commit \(auto-feature-builder\)$/)

    expect(await getJson(`${server.url}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } })
    const ready = await getJson(`${server.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ status: 'ready', checks: { store: 'ok', repository: 'ok' } })

    const created = await postIssue(server.url, 'e2e-fresh-post')
    expect(created.status).toBe(201)
    const id = created.body.workflow_id as string
    expect(id).toMatch(UUID)
    expect(created.location).toBe(`/workflows/${id}`)
    expect(created.body).toMatchObject({
      status: 'generated',
      opportunity: { issue_type: 'high_churn', severity: 'high', metric_value: 0.08, affected_items: ['cust_1', 'cust_2'] },
      workflow: { workflow_id: id, name: 'Auto-Retention: High Churn', issue_type: 'high_churn', trigger: 'high_churn_detected' },
    })

    const fetched = await getJson(new URL(created.location ?? '', server.url).href)
    expect(fetched.status).toBe(200)
    expect(fetched.body).toMatchObject(created.body)
    expect(fetched.body.status).toBe('generated')

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  it('when stopped with SIGTERM and restarted on the same DATA_DIR, then workflows and the audit chain of the first run are still there', async () => {
    const dataDir = tempDir()
    const first = await startServer({ DATA_DIR: dataDir })
    const created = await postIssue(first.url, 'e2e-persist-post')
    expect(created.status).toBe(201)
    const id = created.body.workflow_id as string
    const before = await getJson(`${first.url}/workflows/${id}`, { 'x-request-id': 'e2e-persist-get' })
    expect(before.status).toBe(200)
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null })

    const second = await startServer({ DATA_DIR: dataDir })
    expect(second.dataDir).toBe(dataDir)
    const after = await getJson(`${second.url}/workflows/${id}`)
    expect(after).toEqual(before)

    const audit = await getJson(`${second.url}/audit`)
    expect(audit.status).toBe(200)
    const items = audit.body.items as Array<Record<string, unknown>>
    expect(items.find((e) => e.request_id === 'e2e-persist-post')).toMatchObject({
      method: 'POST',
      path: '/issues',
      status: 201,
      operation: 'issue.create',
      workflow_id: id,
      issue_type: 'high_churn',
    })
    expect(items.find((e) => e.request_id === 'e2e-persist-get')).toMatchObject({
      method: 'GET',
      path: `/workflows/${id}`,
      status: 200,
    })

    const verify = await getJson(`${second.url}/audit/verify`)
    expect(verify.status).toBe(200)
    expect(verify.body).toMatchObject({ ok: true })
    // first run: POST + GET; second run: GET workflow + GET audit, all before this verify answered
    expect(verify.body.entries).toBeGreaterThanOrEqual(4)
    expect(verify.body.head_hash).toMatch(/^[0-9a-f]{64}$/)
    expect(verify.body).not.toHaveProperty('first_bad_seq')

    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  it('when SIGTERM arrives while a POST /issues body is half sent, then that request still gets its 201, new connections are refused or answered 503, and the process exits 0', async () => {
    const server = await startServer()
    const body = Buffer.from(JSON.stringify(sampleOpportunity), 'utf8')
    const half = Math.floor(body.length / 2)

    const socket = net.connect(server.port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
    })
    const socketEnded = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    try {
      socket.write(
        'POST /issues HTTP/1.1\r\n' +
          'Host: 127.0.0.1\r\n' +
          'Content-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\n` +
          'X-Request-Id: e2e-drain-post\r\n' +
          '\r\n',
      )
      socket.write(body.subarray(0, half))
      // the server has seen the headers (it logs the incoming request): the request is in flight before the signal
      await vi.waitFor(() => expect(server.logs()).toContain('e2e-drain-post'), { timeout: 10_000, interval: 10 })

      const exited = server.exited
      server.child.kill('SIGTERM')

      // a new connection during the drain: the listener is closed (refused) or Fastify answers 503 —
      // once the shutdown has got that far, which is polled for rather than assumed after a fixed time
      const late = () =>
        fetch(`${server.url}/healthz`).then(
          (res) => ({ status: res.status }),
          (err: unknown) => ({ code: ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code }),
        )
      await vi.waitFor(async () => expect([{ code: 'ECONNREFUSED' }, { status: 503 }]).toContainEqual(await late()), { timeout: 10_000, interval: 50 })
      expect(server.child.exitCode).toBeNull() // still draining our request

      socket.write(body.subarray(half))
      const exit = await Promise.race([
        exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit after the drained request\n${server.logs()}\n${server.stderr()}\nreceived:\n${received}`)), 10_000)),
      ])
      await Promise.race([socketEnded, new Promise((r) => setTimeout(r, 1000))])

      expect(received).toMatch(/^HTTP\/1\.1 201 /)
      const [head = '', payload = ''] = received.split('\r\n\r\n')
      expect(head).toMatch(/\r\nlocation: \/workflows\/[0-9a-f-]{36}\r\n/i)
      // the drained response releases its connection, so a keep-alive client cannot hold the exit open
      expect(head).toMatch(/\r\nconnection: close\r\n/i)
      const json = JSON.parse(payload) as { workflow_id: string; opportunity: { description: string } }
      expect(json.workflow_id).toMatch(UUID)
      expect(json.opportunity.description).toBe(sampleOpportunity.description)
      expect(exit).toEqual({ code: 0, signal: null })
      expect(server.logs()).toContain('shutting down: finishing in-flight requests')
    } finally {
      socket.destroy()
    }
  })

  describe('start-up refusals', () => {
    it('when REPO_PATH is an existing non-empty folder that is not a git repository, then the process exits non-zero naming REPO_PATH', async () => {
      const repoPath = path.join(tempDir(), 'not-a-repo')
      mkdirSync(repoPath)
      writeFileSync(path.join(repoPath, 'notes.txt'), 'someone else owns this folder\n')

      const err = await refusal({ REPO_PATH: repoPath })
      expect(err.exit?.code).not.toBe(0)
      expect(err.exit?.code).not.toBeNull() // it exited by itself: a hang is killed at the helper's deadline, with no exit code
      expect(err.stderr).toContain('auto-feature-builder cannot start')
      expect(err.stderr).toContain(`REPO_PATH ${repoPath} exists but is not a git repository`)
      expect(err.stdout).not.toContain('Server listening at')
      // nothing was written into the foreign folder
      expect(existsSync(path.join(repoPath, '.git'))).toBe(false)
    })

    it('when TEMPLATES_DIR holds a playbook.json with "steps": [], then the process exits non-zero naming that file and steps', async () => {
      const templates = path.join(tempDir(), 'templates')
      cpSync(path.join(PROJECT_ROOT, 'templates'), templates, { recursive: true })
      const broken = path.join(templates, 'revenue_drop', 'playbook.json')
      const playbook = JSON.parse(readFileSync(broken, 'utf8')) as Record<string, unknown>
      writeFileSync(broken, JSON.stringify({ ...playbook, steps: [] }, null, 2))

      const err = await refusal({ TEMPLATES_DIR: templates })
      expect(err.exit?.code).not.toBe(0)
      expect(err.exit?.code).not.toBeNull() // it exited by itself: a hang is killed at the helper's deadline, with no exit code
      expect(err.stderr).toContain('auto-feature-builder cannot start')
      expect(err.stderr).toContain(`${broken}: steps:`)
      expect(err.stdout).not.toContain('Server listening at')
    })

    it('when PORT is not a number, then the process exits non-zero naming PORT', async () => {
      const err = await refusal({ PORT: 'abc' })
      expect(err.exit?.code).not.toBe(0)
      expect(err.exit?.code).not.toBeNull() // it exited by itself: a hang is killed at the helper's deadline, with no exit code
      expect(err.stderr).toContain('auto-feature-builder cannot start: Invalid configuration')
      expect(err.stderr).toMatch(/^\s+PORT: .+$/m)
      expect(err.stdout).not.toContain('Server listening at')
    })

    it('when the port is taken, then the process exits non-zero with one line naming the port and PORT, not a stack trace', async () => {
      const first = await startServer()
      const port = new URL(first.url).port
      const err = await refusal({ PORT: port })
      expect(err.exit?.code).toBe(1)
      expect(err.stderr.trim()).toBe(`auto-feature-builder cannot start: port ${port} on 127.0.0.1 is in use (another process listens there); set PORT to a free port`)
      expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    })

    it('when a second process starts on a DATA_DIR that one is serving, then it refuses; after a SIGKILL of the first, a new one starts', async () => {
      const dataDir = tempDir()
      const first = await startServer({ DATA_DIR: dataDir })
      const err = await refusal({ DATA_DIR: dataDir })
      expect(err.stderr).toContain(`auto-feature-builder cannot start: DATA_DIR ${dataDir} is in use by another auto-feature-builder process`)
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200) // the first one is untouched
      await first.stop('SIGKILL')
      const next = await startServer({ DATA_DIR: dataDir }) // the OS dropped the lock with the process
      expect((await fetch(`${next.url}/readyz`)).status).toBe(200)
    })

    it('when a second process with its own DATA_DIR targets the same repository, then it refuses too', async () => {
      const dataDir = tempDir()
      await startServer({ DATA_DIR: dataDir })
      const err = await refusal({ DATA_DIR: tempDir(), REPO_PATH: path.join(dataDir, 'repo') })
      expect(err.stderr).toContain(`auto-feature-builder cannot start: REPO_PATH ${path.join(dataDir, 'repo')} is in use by another auto-feature-builder process`)
    })
  })
})
