import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readIntent } from '../../src/git/intent.js'
import { sampleOpportunity, tempDir, testApp, type TestApp } from '../helpers/app.js'
import { git, treeDigest } from '../helpers/git.js'

/**
 * A real full disk, opt-in (AFB_FULL_DISK_TEST=1; needs root, for `mount -t tmpfs`): the
 * repository lives on a 2 MiB tmpfs that is filled before each attempt so that 0, 4, 8 … KiB
 * are free, and the commit runs out of space at each of its steps in turn.
 */

let t: TestApp | undefined
let mounted: string | undefined
const dirs: string[] = []
afterEach(async () => {
  await t?.close({ keepDir: true })
  t = undefined
  if (mounted) execFileSync('umount', [mounted])
  mounted = undefined
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** What a commit that moved the branch and put it back leaves in .git: two reflog lines, and the objects they name. */
const MOVE_AND_BACK = ['.git/logs', '.git/objects']

const readdirIfAny = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : [])

/** Fills the file system holding `dir` until `leave` bytes are free (tmpfs counts whole pages). */
function fillLeaving(dir: string, leave: number): string {
  const filler = path.join(dir, 'filler')
  const { bavail, bsize } = statfsSync(dir)
  writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - leave)))
  return filler
}

describe.runIf(process.env.AFB_FULL_DISK_TEST === '1')('a full disk (opt-in)', () => {
  it('when the disk is full at any step of a commit, then .git is as it was, or the branch moved and its intent file is whole and finished by recovery', async () => {
    const dir = tempDir('afb-full-disk-')
    dirs.push(dir)
    const disk = path.join(dir, 'disk')
    mkdirSync(disk)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk])
    mounted = disk
    t = await testApp({ REPO_PATH: path.join(disk, 'repo') }, dir)
    const repo = t.config.repoPath
    const intentFile = path.join(repo, '.git', 'auto-feature-builder-commit.json')
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id

    const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
    const reflogLength = async () => (await git(repo, 'reflog', 'show', '--format=%H', 'refs/heads/main')).split('\n').filter(Boolean).length
    const outcomes: string[] = []
    let done = false
    for (let free = 0; free <= 512 * 1024 && !done; free += 4096) {
      const filler = fillLeaving(disk, free)
      const before = { digest: treeDigest(repo), rest: treeDigest(repo, [...MOVE_AND_BACK, 'tests', 'workflows']), reflog: await reflogLength() }
      const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
      if (res.statusCode === 201) {
        outcomes.push('201')
        done = true
      } else if (existsSync(intentFile)) {
        // the branch moved and could not be put back: the intent is whole, and recovery finishes it
        outcomes.push(`${res.statusCode} kept-intent`)
        expect(await readIntent(intentFile, repo)).toMatchObject({ branch: 'main', from: head })
        rmSync(filler)
        expect(await t.services.repository.recoverInterruptedCommit()).toBe('completed')
        done = true
      } else {
        expect((await git(repo, 'rev-parse', 'HEAD')).trim(), `${free} bytes free`).toBe(head)
        if ((await reflogLength()) === before.reflog) {
          // failed before the branch moved: .git is byte-for-byte as it was
          outcomes.push(`${res.statusCode}`)
          expect(treeDigest(repo), `${free} bytes free: ${res.body}`).toBe(before.digest)
        } else {
          // failed after: the branch was put back, and only its reflog (both moves) and the objects it
          // names are new — and the folders the work tree sync made, empty again (git ignores them)
          outcomes.push(`${res.statusCode} put-back`)
          expect(treeDigest(repo, [...MOVE_AND_BACK, 'tests', 'workflows']), `${free} bytes free: ${res.body}`).toBe(before.rest)
          for (const folder of ['tests', 'workflows']) expect(readdirIfAny(path.join(repo, folder))).toEqual([])
        }
      }
      rmSync(filler, { force: true })
    }

    console.info(`[full disk] answers with 0, 4, 8 … KiB free: ${outcomes.join(', ')}`)
    expect(done).toBe(true)
    expect(await git(repo, 'status', '--porcelain')).toBe('')
    expect(readFileSync(path.join(repo, 'workflows', 'high_churn_workflow.json'), 'utf8')).toContain(id)
    await git(repo, 'fsck', '--full', '--strict')
  })
})
