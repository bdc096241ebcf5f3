import { existsSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { execFile } from 'node:child_process'
import { RepositoryError } from './errors.js'

export interface GitIdentity {
  name: string
  email: string
}

/**
 * What git may take from the service's environment: the basics, and what reaching a remote needs —
 * an ssh command or agent (a deploy key), proxies, CA certificates, a non-interactive askpass
 * helper. Nothing else (no GIT_DIR, GIT_INDEX_FILE or GIT_CONFIG_* a parent process may have set).
 */
const INHERITED = [
  ...['PATH', 'HOME', 'LANG', 'TMPDIR'],
  ...['GIT_SSH_COMMAND', 'GIT_SSH', 'GIT_SSH_VARIANT', 'SSH_AUTH_SOCK', 'GIT_ASKPASS'],
  ...['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy'],
  ...['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH', 'SSL_CERT_FILE', 'SSL_CERT_DIR'],
]

/** A small, explicit environment: no editor, no pager, no prompts, the identity for this command only. */
function gitEnvironment(identity: GitIdentity): Record<string, string> {
  const inherited = Object.fromEntries(INHERITED.flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])))
  return {
    ...inherited,
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: identity.name,
    GIT_AUTHOR_EMAIL: identity.email,
    GIT_COMMITTER_NAME: identity.name,
    GIT_COMMITTER_EMAIL: identity.email,
  }
}

/** A failed git command, with git's own words (stderr) as the message. */
export class GitCommandError extends Error {
  override name = 'GitCommandError'
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(`git ${args[0] ?? ''} failed (exit ${exitCode ?? 'signal'}): ${(stderr || stdout).trim()}`)
  }
}

export interface Git {
  /** Runs `git <args>` in the repository; resolves with stdout, rejects with a GitCommandError. */
  raw(args: readonly string[]): Promise<string>
}

/** The options and environment every git command of the service runs with (see gitClient). */
export function gitInvocation(identity: GitIdentity, extraEnv: Record<string, string> = {}): { args: string[]; env: Record<string, string> } {
  return {
    args: [
      ...['-c', `user.name=${identity.name}`, '-c', `user.email=${identity.email}`],
      ...['-c', 'commit.gpgsign=false', '-c', 'core.quotepath=off', '-c', 'core.fsmonitor=false'],
    ],
    env: { ...gitEnvironment(identity), ...extraEnv },
  }
}

/**
 * A git runner whose every command carries the commit identity with `-c`, so nothing is ever
 * written into a git config file, and which never prompts. The repository's `core.fsmonitor`
 * program never runs (git would start it for any command that reads the index, previews
 * included). It calls git directly (execFile, no shell): simple-git waits a fixed 50 ms after
 * every command that prints nothing, which made a commit — mostly silent plumbing — 15× slower
 * than plain git (see docs/performance.md).
 */
export function gitClient(repoPath: string, identity: GitIdentity, extraEnv: Record<string, string> = {}): Git {
  return {
    raw: (args) =>
      new Promise((resolve, reject) => {
        // the environment as it is when the command runs (PATH above all), not when the client was made
        const { args: config, env } = gitInvocation(identity, extraEnv)
        execFile('git', [...config, ...args], { cwd: repoPath, env, maxBuffer: 256 * 1024 * 1024, timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
          if (err) reject(new GitCommandError(args, typeof err.code === 'number' ? err.code : null, stderr, stdout))
          else resolve(stdout)
        })
      }),
  }
}

/**
 * Environment (GIT_CONFIG_COUNT, so a driver name holding `=` cannot be misread as `-c` would)
 * under which the named filter drivers do nothing: no clean, smudge or process command runs, and
 * a `required` driver is not an error. git then compares and writes content as it is stored.
 */
export function filterDriversOff(drivers: Iterable<string>): Record<string, string> {
  const settings = [...drivers].flatMap((name) => [
    [`filter.${name}.clean`, ''],
    [`filter.${name}.smudge`, ''],
    [`filter.${name}.process`, ''],
    [`filter.${name}.required`, 'false'],
  ])
  return Object.fromEntries([
    ['GIT_CONFIG_COUNT', String(settings.length)],
    ...settings.flatMap(([key, value], i) => [
      [`GIT_CONFIG_KEY_${i}`, key],
      [`GIT_CONFIG_VALUE_${i}`, value],
    ]),
  ])
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

/** The repository's git dir as git reports it (`.git`, or elsewhere for worktrees and submodules). */
export async function repositoryGitDir(repoPath: string, identity: GitIdentity): Promise<string> {
  return (await gitClient(repoPath, identity).raw(['rev-parse', '--absolute-git-dir'])).trim()
}
