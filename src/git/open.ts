import { existsSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { simpleGit, type SimpleGit } from 'simple-git'
import { RepositoryError } from './errors.js'

export interface GitIdentity {
  name: string
  email: string
}

/** A small, explicit environment: no editor, no pager, no prompts, the identity for this command only. */
function gitEnvironment(identity: GitIdentity): Record<string, string> {
  const inherited = Object.fromEntries(
    ['PATH', 'HOME', 'LANG', 'TMPDIR'].flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])),
  )
  return {
    ...inherited,
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: identity.name,
    GIT_AUTHOR_EMAIL: identity.email,
    GIT_COMMITTER_NAME: identity.name,
    GIT_COMMITTER_EMAIL: identity.email,
  }
}

/**
 * A simple-git client whose every command carries the commit identity with `-c`, so nothing
 * is ever written into a git config file, and which never asks for credentials interactively.
 */
export function gitClient(repoPath: string, identity: GitIdentity, extraEnv: Record<string, string> = {}): SimpleGit {
  return simpleGit({
    baseDir: repoPath,
    config: [`user.name=${identity.name}`, `user.email=${identity.email}`, 'commit.gpgsign=false', 'core.quotepath=off'],
    timeout: { block: 60_000 },
  }).env({ ...gitEnvironment(identity), ...extraEnv })
}

/**
 * Makes sure REPO_PATH is a usable repository: an absent (or empty) folder becomes a new
 * repository with an empty initial commit; anything else that is not a repository's top level
 * stops start-up, so the service never writes into a folder someone else owns.
 */
export async function ensureRepository(repoPath: string, identity: GitIdentity): Promise<void> {
  const absent = !existsSync(repoPath)
  if (!absent && !statSync(repoPath).isDirectory()) throw new RepositoryError(`REPO_PATH ${repoPath} exists but is not a directory`)
  if (absent || readdirSync(repoPath).length === 0) {
    mkdirSync(repoPath, { recursive: true })
    const git = gitClient(repoPath, identity)
    await git.raw(['init', '--initial-branch=main'])
    await git.raw(['commit', '--allow-empty', '-m', 'Initial commit (auto-feature-builder)'])
    return
  }
  let topLevel: string
  try {
    topLevel = (await gitClient(repoPath, identity).raw(['rev-parse', '--show-toplevel'])).trim()
  } catch {
    throw new RepositoryError(`REPO_PATH ${repoPath} exists but is not a git repository; point REPO_PATH at a repository or at an absent folder`)
  }
  if (realpathSync(topLevel) !== realpathSync(repoPath)) {
    throw new RepositoryError(`REPO_PATH ${repoPath} is inside the repository ${topLevel}, not the top of one; point REPO_PATH at a repository's top level`)
  }
}
