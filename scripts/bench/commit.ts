/**
 * A real commit through the API against plain git committing the same files, in process (inject)
 * on a real SQLite file and a real repository; then how many git processes one commit and one
 * preview start, counted by a `git` wrapper put first on PATH.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { tempDir, testApp, type TestApp } from '../../tests/helpers/app.js'
import { median, opportunity, round, stats, time, type Stats } from './common.js'

export interface CommitResult {
  files_per_commit: number
  preview: Stats
  api_commit: Stats
  raw_git: Stats
  ratio: number
  git_processes: { commit_create: number; commit_update: number; preview: number; commit_commands: string[]; commit_create_commands: string[]; preview_commands: string[] }
}

interface File {
  path: string
  content: string
}

/** The git found on PATH when the bench started (the wrapper execs it; the shell comparison runs it). */
export const REAL_GIT = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim()

async function ingest(t: TestApp, i: number): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: '/issues', payload: opportunity(i) })
  if (res.statusCode !== 201) throw new Error(`POST /issues answered ${res.statusCode}: ${res.body}`)
  return (res.json() as { workflow_id: string }).workflow_id
}

/** The files a commit of the workflow writes, as the preview (GET /workflows/{id}/preview) shows them. */
async function previewFiles(t: TestApp, id: string): Promise<File[]> {
  const res = await t.app.inject(`/workflows/${id}/preview`)
  if (res.statusCode !== 200) throw new Error(`GET /workflows/${id}/preview answered ${res.statusCode}: ${res.body}`)
  return (res.json() as { changes: File[] }).changes.map((c) => ({ path: c.path, content: c.content }))
}

async function commit(t: TestApp, id: string): Promise<void> {
  const res = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
  if (res.statusCode !== 201) throw new Error(`POST /commits answered ${res.statusCode}: ${res.body}`)
}

/** `git -c a=b --no-optional-locks <subcommand> …` → the subcommand */
function subcommand(line: string): string {
  const args = line.split(' ')
  let i = 0
  for (;;) {
    if (args[i] === '-c' || args[i] === '-C') i += 2
    else if (args[i]?.startsWith('-')) i += 1
    else return args[i] ?? line
  }
}

async function countGitProcesses(env: Record<string, string>): Promise<CommitResult['git_processes']> {
  const wrapperDir = tempDir('afb-bench-gitwrap-')
  const logFile = path.join(wrapperDir, 'calls.log')
  const wrapper = path.join(wrapperDir, 'git')
  // the service passes git a small environment of its own (PATH among it), so the log path is written into the script
  writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logFile}'\nexec '${REAL_GIT}' "$@"\n`)
  chmodSync(wrapper, 0o755)
  const savedPath = process.env.PATH
  // set before the app is built: its git runners take PATH when they are made
  process.env.PATH = `${wrapperDir}${path.delimiter}${savedPath ?? ''}`
  let t: TestApp | undefined
  try {
    t = await testApp(env)
    const counted = async (fn: () => Promise<unknown>) => {
      writeFileSync(logFile, '')
      await fn()
      return readFileSync(logFile, 'utf8').split('\n').filter((line) => line !== '')
    }
    const app = t
    // one commit of another type first: the first commit after start also looks up where the git dir is (once)
    await commit(app, await ingest(app, 1))
    const first = await ingest(app, 0)
    const second = await ingest(app, 0) // the same type: its commit updates the files the first wrote
    const commitCreate = await counted(() => commit(app, first))
    const preview = await counted(() => previewFiles(app, second))
    const commitUpdate = await counted(() => commit(app, second))
    return {
      commit_create: commitCreate.length,
      commit_update: commitUpdate.length,
      preview: preview.length,
      commit_commands: commitUpdate.map(subcommand),
      commit_create_commands: commitCreate.map(subcommand),
      preview_commands: preview.map(subcommand),
    }
  } finally {
    process.env.PATH = savedPath
    await t?.close()
    rmSync(wrapperDir, { recursive: true, force: true })
  }
}

/** `env`: configuration for the apps (EXPORT_FORMATS decides how many files a workflow has). */
export async function runCommit(n: number, env: Record<string, string>, log: (line: string) => void): Promise<CommitResult> {
  const t = await testApp(env)
  const previews: number[] = []
  const commits: number[] = []
  const fileSets: File[][] = []
  const warmUpSets: File[][] = []
  try {
    // warm-up: JIT, SQLite statement cache, git's own caches; one commit of each type, so the timed ones update files
    for (let i = 0; i < 6; i++) {
      const id = await ingest(t, i)
      warmUpSets.push(await previewFiles(t, id))
      await commit(t, id)
    }
    const ids: string[] = []
    for (let i = 0; i < n; i++) ids.push(await ingest(t, i))
    log(`  ${n} previews, then ${n} real commits through the API`)
    for (const id of ids) {
      let files: File[] = []
      previews.push(await time(async () => (files = await previewFiles(t, id))))
      fileSets.push(files)
    }
    for (const id of ids) commits.push(await time(() => commit(t, id)))
  } finally {
    await t.close()
  }

  // the same files, in the same order, committed by plain git: write them, git add, git commit
  log(`  ${n} commits of the same files with git add + git commit`)
  const shellRepo = tempDir('afb-bench-shell-')
  const raw: number[] = []
  try {
    const git = (...args: string[]) =>
      execFileSync(REAL_GIT, ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', '-c', 'commit.gpgsign=false', ...args], { cwd: shellRepo, stdio: 'ignore' })
    git('init', '-q', '--initial-branch=main')
    git('commit', '-q', '--allow-empty', '-m', 'init')
    const write = (set: File[]) => {
      for (const f of set) {
        mkdirSync(path.join(shellRepo, path.dirname(f.path)), { recursive: true })
        writeFileSync(path.join(shellRepo, f.path), f.content)
      }
    }
    const commitSet = (set: File[]) => {
      write(set)
      git('add', '--', ...set.map((f) => f.path))
      git('commit', '-q', '-m', 'bench')
    }
    // the same warm-up as the API's: one commit of each type
    for (const set of warmUpSets) commitSet(set)
    for (const set of fileSets) raw.push(await time(() => commitSet(set)))
  } finally {
    rmSync(shellRepo, { recursive: true, force: true })
  }

  log('  git processes of one commit and one preview')
  const gitProcesses = await countGitProcesses(env)
  return {
    files_per_commit: fileSets[0]?.length ?? 0,
    preview: stats(previews),
    api_commit: stats(commits),
    raw_git: stats(raw),
    ratio: round(median(commits) / median(raw), 2),
    git_processes: gitProcesses,
  }
}
