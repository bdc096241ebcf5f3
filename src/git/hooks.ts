import { constants } from 'node:fs'
import { access } from 'node:fs/promises'
import path from 'node:path'
import { HookRejected } from './errors.js'
import type { Git } from './open.js'

/**
 * Which commit hooks exist and are executable, so absent ones cost no process: in core.hooksPath
 * (`hooksPath`, from this operation's configuration) or the repository's hooks folder (shared by
 * linked worktrees). A hooksPath that git would expand (~, %(prefix)) is asked of git.
 */
export async function findCommitHooks(git: Git, repoPath: string, commonDir: () => Promise<string>, hooksPath: string | undefined): Promise<Record<'pre-commit' | 'commit-msg', boolean>> {
  let preCommit: string | undefined
  let commitMsg: string | undefined
  if (hooksPath === undefined || (hooksPath !== '' && !/^[~%]/.test(hooksPath))) {
    const dir = hooksPath === undefined ? path.join(await commonDir(), 'hooks') : path.resolve(repoPath, hooksPath)
    ;[preCommit, commitMsg] = [path.join(dir, 'pre-commit'), path.join(dir, 'commit-msg')]
  } else {
    ;[preCommit, commitMsg] = (await git.raw(['rev-parse', '--git-path', 'hooks/pre-commit', '--git-path', 'hooks/commit-msg']))
      .trim()
      .split('\n')
      .map((p) => path.resolve(repoPath, p))
  }
  const executable = async (file: string | undefined) => (file ? access(file, constants.X_OK).then(() => true, () => false) : false)
  return { 'pre-commit': await executable(preCommit), 'commit-msg': await executable(commitMsg) }
}


/** Runs a repository hook the way `git commit` would, with the private index; a non-zero exit refuses the commit. */
export async function runHook(git: Git, hook: string, args: string[]): Promise<void> {
  try {
    await git.raw(['hook', 'run', hook, ...(args.length ? ['--', ...args] : [])])
  } catch (err) {
    throw new HookRejected(hook, err instanceof Error ? err.message : String(err))
  }
}
