import { execFile, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, lstatSync, readlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/** Plain git in a test repository, as a person at a shell would run it (with an identity of its own). */
export async function git(dir: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec('git', ['-c', 'user.name=Test Person', '-c', 'user.email=person@example.test', '-c', 'commit.gpgsign=false', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', GIT_TERMINAL_PROMPT: '0' },
  })
  return stdout
}

/**
 * One digest of every file below `dir` — .git included — with its path, mode and content:
 * equal digests mean the folder is byte-for-byte what it was. Paths in `skip` (relative to
 * `dir`) are left out, with everything below them.
 */
export function treeDigest(dir: string, skip: readonly string[] = []): string {
  const hash = createHash('sha256')
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      const full = path.join(current, name)
      const stat = lstatSync(full)
      const relative = path.relative(dir, full)
      if (skip.includes(relative)) continue
      if (stat.isDirectory()) {
        hash.update(`d ${relative}\n`)
        walk(full)
      } else if (stat.isSymbolicLink()) {
        hash.update(`l ${relative} ${readlinkSync(full)}\n`)
      } else {
        hash.update(`f ${relative} ${stat.mode.toString(8)} ${stat.size}\n`).update(readFileSync(full))
      }
    }
  }
  walk(dir)
  return hash.digest('hex')
}

/** The paths a commit changed, sorted. */
export async function filesInCommit(dir: string, sha: string): Promise<string[]> {
  return (await git(dir, 'show', '--name-only', '--format=', sha)).split('\n').filter(Boolean).sort()
}

/** Puts a logging `git` first on PATH (the service's git commands take PATH as it is when each runs; the caller puts PATH back); returns the log's lines. */
export function countGitProcesses(dir: string): () => string[] {
  const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim()
  const bin = path.join(dir, 'logging-git')
  mkdirSync(bin)
  const log = path.join(dir, 'git-processes.log')
  writeFileSync(log, '')
  writeFileSync(path.join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${realGit}' "$@"\n`)
  chmodSync(path.join(bin, 'git'), 0o755)
  process.env.PATH = `${bin}${path.delimiter}${process.env.PATH ?? ''}`
  return () => {
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean)
    writeFileSync(log, '')
    return lines
  }
}
