import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { git } from '../helpers/git.js'
import { RepositoryStatusCache, STATUS_REUSE_MS } from '../../src/status.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('status and probes', () => {
  it('when all is well, then /healthz is ok, /readyz ready and /status reports the repository and counts', async () => {
    t = await testApp()
    await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, issue_type: 'error_spike' } })
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' })
    expect((await t.app.inject('/readyz')).json()).toEqual({ status: 'ready', checks: { store: 'ok', repository: 'ok' } })
    const status = (await t.app.inject('/status')).json()
    const head = (await git(t.config.repoPath, 'rev-parse', 'HEAD')).trim()
    expect(status).toMatchObject({
      service: 'auto-feature-builder',
      dry_run_default: true,
      repository: { path: t.config.repoPath, branch: 'main', head, reachable: true },
      workflows: { total: 2, by_type: { high_churn: 1, error_spike: 1 } },
      last_event: { operation: 'health.ready', status: 200 },
    })
    expect(status.playbooks).toHaveLength(6)
  })

  it('when someone commits, switches branch or the remote copy moves behind the service, then the next /status shows it (no stale reuse)', async () => {
    t = await testApp()
    const repo = t.config.repoPath
    const status = async () => (await t!.app.inject('/status')).json().repository
    const head = async () => (await git(repo, 'rev-parse', 'HEAD')).trim()
    expect(await status()).toMatchObject({ branch: 'main', head: await head(), remote: null })
    expect(await status()).toMatchObject({ branch: 'main', head: await head() }) // reused
    await git(repo, '-c', 'user.name=p', '-c', 'user.email=p@localhost', 'commit', '-q', '--allow-empty', '-m', 'by hand')
    expect(await status()).toMatchObject({ branch: 'main', head: await head() })
    await git(repo, 'update-ref', 'refs/remotes/origin/main', 'HEAD~1')
    expect((await status()).remote).toEqual({ remote: 'origin', ahead: 1, behind: 0 })
    await git(repo, 'pack-refs', '--all') // refs move into packed-refs
    await git(repo, 'update-ref', 'refs/remotes/origin/main', 'HEAD')
    expect((await status()).remote).toEqual({ remote: 'origin', ahead: 0, behind: 0 })
    await git(repo, 'checkout', '-q', '-b', 'other')
    expect(await status()).toMatchObject({ branch: 'other', head: await head(), remote: null })
  })

  it('when the repository breaks without a ref moving, then a reused answer is at most STATUS_REUSE_MS old, and a missing HEAD is never vouched for', async () => {
    t = await testApp()
    let now = 0
    const cache = new RepositoryStatusCache(t.services.repository, () => now)
    await cache.status()
    await cache.status() // kept from here on
    writeFileSync(path.join(t.config.repoPath, '.git', 'config'), '[broken\n')
    expect((await cache.status()).reachable).toBe(true) // reused: no ref file moved
    now += STATUS_REUSE_MS
    expect(await cache.status()).toMatchObject({ reachable: false, error: expect.stringMatching(/config/) })
  })

  it('when the repository becomes unusable, then /readyz is a 503 problem naming it and /status says unreachable', async () => {
    t = await testApp()
    rmSync(path.join(t.config.repoPath, '.git'), { recursive: true, force: true })
    const ready = await t.app.inject('/readyz')
    expect(ready.statusCode).toBe(503)
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(ready.json()).toMatchObject({ status: 503, title: 'Not ready', checks: { store: 'ok', repository: 'failed' } })
    expect(ready.json().detail).toMatch(/^repository: /)
    expect((await t.app.inject('/healthz')).statusCode).toBe(200)
    expect((await t.app.inject('/status')).json().repository).toMatchObject({ reachable: false, head: null })
  })

  it('when COMMIT_BRANCH names a branch that does not exist, then /readyz is 503 and a commit is a 409, not a 500', async () => {
    t = await testApp({ COMMIT_BRANCH: 'release' })
    expect((await t.app.inject('/readyz')).statusCode).toBe(503)
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id
    const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    expect(res.statusCode).toBe(409)
    expect(res.json()).toMatchObject({ title: 'Branch not found' })
    const preview = (await t.app.inject(`/workflows/${id}/preview`)).json()
    expect(preview.can_commit).toBe(false)
    expect(preview.blockers).toContain('The branch release has no commit yet')
  })
})

describe('GET /', () => {
  it('when a newcomer opens the root, then it links the docs, the OpenAPI document and the status', async () => {
    const t = await testApp()
    try {
      const res = await t.app.inject('/')
      expect(res.statusCode).toBe(200)
      expect(res.json()).toMatchObject({ name: 'auto-feature-builder', links: { docs: '/docs', openapi: '/openapi.json', status: '/status' } })
    } finally {
      await t.close()
    }
  })
})
