import { chmodSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'
import { git } from '../helpers/git.js'

/**
 * Programs a repository's configuration names (core.fsmonitor, filter drivers, pager, external
 * diff, textconv, hooks): a dry run runs none of them, a real commit only the hooks docs/internals.md lists.
 */

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

/** Every hook git knows of; each one logs its name. */
const HOOKS = [
  'applypatch-msg', 'pre-applypatch', 'post-applypatch', 'pre-commit', 'pre-merge-commit', 'prepare-commit-msg', 'commit-msg',
  'post-commit', 'pre-rebase', 'post-checkout', 'post-merge', 'pre-push', 'pre-receive', 'update', 'proc-receive', 'post-receive',
  'post-update', 'reference-transaction', 'push-to-checkout', 'pre-auto-gc', 'post-rewrite', 'sendemail-validate', 'post-index-change',
]

/**
 * A repository whose configuration names a logging program at every place git would run one, and
 * a tracked file under a clean filter whose stat information is stale (so `git status` would clean it).
 * Returns the log file, which lives outside the repository.
 */
async function repositoryRunningLoggers(app: TestApp): Promise<string> {
  const repo = app.config.repoPath
  const dir = path.join(app.dir, 'programs') // next to the repository, removed with the test app
  mkdirSync(dir)
  const log = path.join(dir, 'ran.log')
  // filters and textconv pass their input through; the others fail, so git carries on without them
  const program = (name: string, passThrough = false) => {
    const file = path.join(dir, name)
    writeFileSync(file, `#!/bin/sh\necho '${name}' >> '${log}'\n${passThrough ? 'cat\nexit 0' : 'exit 1'}\n`)
    chmodSync(file, 0o755)
    return file
  }
  for (const hook of HOOKS) {
    const file = path.join(repo, '.git', 'hooks', hook)
    writeFileSync(file, `#!/bin/sh\necho 'hook ${hook}' >> '${log}'\nexit 0\n`)
    chmodSync(file, 0o755)
  }
  await git(repo, 'config', 'core.fsmonitor', program('fsmonitor'))
  await git(repo, 'config', 'core.pager', program('pager', true))
  await git(repo, 'config', 'diff.external', program('diff.external'))
  await git(repo, 'config', 'diff.logged.textconv', program('textconv', true))
  await git(repo, 'config', 'filter.logged.clean', program('filter-clean', true))
  await git(repo, 'config', 'filter.logged.smudge', program('filter-smudge', true))
  writeFileSync(path.join(repo, '.gitattributes'), 'notes/* filter=logged diff=logged\n*.json diff=logged\n')
  mkdirSync(path.join(repo, 'notes'))
  writeFileSync(path.join(repo, 'notes', 'a.txt'), 'a note\n')
  const quiet = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false']
  await git(repo, ...quiet, 'add', '.gitattributes', 'notes/a.txt')
  await git(repo, ...quiet, 'commit', '-q', '-m', 'person: notes')
  // same content, newer mtime: git must clean it to compare. The mtime is set, not waited for: a
  // rewrite within the index's timestamp granularity would look unchanged
  const note = path.join(repo, 'notes', 'a.txt')
  writeFileSync(note, 'a note\n')
  const later = new Date(statSync(note).mtimeMs + 5_000)
  utimesSync(note, later, later)
  writeFileSync(log, '')
  return log
}

const ran = (log: string) => readFileSync(log, 'utf8').split('\n').filter(Boolean)

describe('programs the repository configures', () => {
  it('when a preview and dry-run POST /commits run, then no configured program runs: not core.fsmonitor, not a filter, not a hook', async () => {
    t = await testApp()
    const log = await repositoryRunningLoggers(t)
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id

    const preview = await t.app.inject(`/workflows/${id}/preview`)
    expect(preview.statusCode).toBe(200)
    expect(preview.json().can_commit).toBe(true)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id } })).json().dry_run).toBe(true)
    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: true } })).json().dry_run).toBe(true)
    expect(ran(log)).toEqual([])
  })

  it('when a real commit is made, then only the pre-commit, commit-msg, post-index-change and reference-transaction hooks run', async () => {
    t = await testApp()
    const log = await repositoryRunningLoggers(t)
    const id = (await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id

    expect((await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })).statusCode).toBe(201)
    expect([...new Set(ran(log))].sort()).toEqual(['hook commit-msg', 'hook post-index-change', 'hook pre-commit', 'hook reference-transaction'])
  })
})
