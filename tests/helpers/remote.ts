import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ServiceOptions } from '../../src/services.js'
import { testApp, type TestApp } from './app.js'
import { git } from './git.js'

/**
 * Several instances sharing one remote (GIT_REMOTE_IS_TRUTH): a real bare repository in a temp
 * folder, a clone of it per instance, and other writers pushing to it.
 */

/** A bare repository `remote.git` below `dir` whose main holds one commit. */
export async function bareRemote(dir: string): Promise<string> {
  const bare = path.join(dir, 'remote.git')
  await git(dir, 'init', '--bare', '--initial-branch=main', bare)
  const seed = path.join(dir, 'seed')
  await git(dir, 'clone', bare, seed)
  await git(seed, 'commit', '--allow-empty', '-m', 'Initial commit')
  await git(seed, 'push', 'origin', 'main')
  return bare
}

/** An instance: a clone of `bare` as its REPO_PATH, its own DATA_DIR, the remote as the truth. */
export async function instance(dir: string, bare: string, name: string, env: Record<string, string> = {}, options: ServiceOptions = {}): Promise<TestApp> {
  const home = path.join(dir, name)
  mkdirSync(home)
  const repo = path.join(home, 'repo')
  await git(dir, 'clone', bare, repo)
  return testApp({ REPO_PATH: repo, GIT_REMOTE_IS_TRUTH: 'true', ...env }, home, false, options)
}

/** A clone of `bare` in which another writer prepares `files` (path → content) as one commit on main, not yet pushed. */
export async function otherWriter(dir: string, bare: string, name: string, files: Record<string, string>): Promise<{ repo: string; sha: string }> {
  const repo = path.join(dir, name)
  await git(dir, 'clone', bare, repo)
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
    writeFileSync(path.join(repo, file), content)
  }
  await git(repo, 'add', '--', ...Object.keys(files))
  await git(repo, 'commit', '-m', `${name}'s change`)
  return { repo, sha: (await git(repo, 'rev-parse', 'HEAD')).trim() }
}

/** Pushes another writer's main to the remote. */
export async function pushFrom(repo: string): Promise<void> {
  await git(repo, 'push', 'origin', 'main')
}

/**
 * An executable hook `name` in `gitDir`'s hooks folder. Git runs hooks with its own environment
 * (GIT_DIR and the like): a hook that runs git elsewhere starts from a clean one (`clean_git`).
 */
export function hook(gitDir: string, name: string, body: string): void {
  const file = path.join(gitDir, 'hooks', name)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, `#!/bin/sh\nclean_git() { env -i PATH="$PATH" HOME="$HOME" git "$@"; }\n${body}\n`)
  chmodSync(file, 0o755)
}

/** The commit `ref` names in `repo`. */
export async function revParse(repo: string, ref: string): Promise<string> {
  return (await git(repo, 'rev-parse', ref)).trim()
}
