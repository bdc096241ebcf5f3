import { spawn } from 'node:child_process'
import { RemoteBranchMissing, RemoteUnavailable } from './errors.js'
import { GitCommandError, gitInvocation, type GitIdentity } from './open.js'

/** At most this many characters of a network command's output are kept: a hostile remote may talk without end. */
const OUTPUT_LIMIT = 64 * 1024

/** A network git command that ran out of time and was killed. */
class GitTimedOut extends Error {
  override name = 'GitTimedOut'
}

/**
 * `git <args>` for a command that talks to the remote, bounded in time and output. It leads a
 * process group of its own, so after `timeoutMs` it is killed with everything it started: the
 * transport (ssh, a remote helper) and, for a remote on this machine, the receive-pack and the
 * remote's hooks. `LC_ALL=C`: git's words are matched below, so they must not be translated.
 */
export function runBounded(repoPath: string, identity: GitIdentity, args: readonly string[], timeoutMs: number, settings: readonly string[] = []): Promise<string> {
  const { args: config, env } = gitInvocation(identity, { LC_ALL: 'C' })
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...config, ...settings, ...args], { cwd: repoPath, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let stdout = ''
    let stderr = ''
    const keep = (text: string, chunk: Buffer) => (text.length >= OUTPUT_LIMIT ? text : text + chunk.toString('utf8').slice(0, OUTPUT_LIMIT - text.length))
    child.stdout.on('data', (chunk: Buffer) => (stdout = keep(stdout, chunk)))
    child.stderr.on('data', (chunk: Buffer) => (stderr = keep(stderr, chunk)))
    let exitCode: number | null | undefined // set once git itself has ended
    let timedOut = false
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // the group is gone already
      }
    }
    const timer = setTimeout(() => {
      // git may have ended while something it started still holds the pipes open: that is not a timeout of git's
      timedOut = exitCode === undefined
      killGroup()
      // and something that left the group (setsid) must not hold the answer either
      child.stdout.destroy()
      child.stderr.destroy()
    }, timeoutMs)
    child.on('exit', (code) => (exitCode = code))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code) => {
      clearTimeout(timer)
      const exit = exitCode === undefined ? code : exitCode
      if (timedOut) reject(new GitTimedOut(`git ${args[0] ?? ''} did not finish within ${timeoutMs} ms and was stopped`))
      else if (exit !== 0) reject(new GitCommandError(args, exit, stderr, stdout))
      else resolve(stdout)
    })
  })
}

/** What went wrong, in git's words, as one sentence. */
const said = (err: unknown) => {
  const text = (err instanceof Error ? err.message : String(err)).trim()
  return /[.!?]$/.test(text) ? text : `${text}.`
}

/** A push the remote (or a pre-push hook) refused, with git's reason; `pushed` otherwise. */
export type PushResult = { pushed: true } | { pushed: false; reason: string }

/**
 * The remote whose branch is the truth (GIT_REMOTE_IS_TRUTH): fetch and push, each bounded by
 * GIT_REMOTE_TIMEOUT_MS, their failures named. One fetch of a branch at a time in this process:
 * two git fetches updating the same remote-tracking ref would fail on its lock.
 */
export class Remote {
  private readonly fetching = new Map<string, { current?: Promise<void>; next?: Promise<void> }>()

  constructor(
    private readonly repoPath: string,
    private readonly identity: GitIdentity,
    readonly name: string,
    private readonly timeoutMs: number,
  ) {}

  /** Where the fetched remote branch is kept: refs/remotes/<remote>/<branch>. */
  trackingRef(branch: string): string {
    return `refs/remotes/${this.name}/${branch}`
  }

  /**
   * Brings refs/remotes/<remote>/<branch> up to the remote's branch. A caller arriving while a
   * fetch runs waits for the next one, which starts after it asked and so sees everything it
   * needs; callers arriving while that one waits share it.
   */
  fetch(branch: string): Promise<void> {
    let slot = this.fetching.get(branch)
    if (!slot) this.fetching.set(branch, (slot = {}))
    const s = slot
    if (s.next) return s.next
    const start = (): Promise<void> => {
      const run = this.fetchNow(branch)
      s.current = run
      void run.catch(() => undefined).then(() => {
        if (s.current === run) s.current = undefined
      })
      return run
    }
    if (!s.current) return start()
    const next = s.current
      .catch(() => undefined)
      .then(() => {
        s.next = undefined
        return start()
      })
    s.next = next
    return next
  }

  /**
   * Only this branch, into its remote-tracking ref (forced: the remote is the truth, even after a
   * rewrite there). Nothing else is written: no tags, no FETCH_HEAD, no commit-graph, no
   * maintenance, no submodules. No hook runs (a preview fetches too, and a dry run runs none of
   * the repository's programs); the transport and credential programs for the remote do.
   */
  private async fetchNow(branch: string): Promise<void> {
    const args = ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-auto-maintenance', '--no-recurse-submodules', '--', this.name, `+refs/heads/${branch}:${this.trackingRef(branch)}`]
    try {
      await runBounded(this.repoPath, this.identity, args, this.timeoutMs, ['-c', 'fetch.writeCommitGraph=false', '-c', 'core.hooksPath=/dev/null'])
    } catch (err) {
      if (err instanceof GitCommandError && /couldn't find remote ref/.test(err.stderr)) throw new RemoteBranchMissing(this.name, branch)
      throw new RemoteUnavailable(`git fetch from ${this.name} failed: ${said(err)}`)
    }
  }

  /**
   * Pushes the commit `sha` to the remote branch, never forced: the remote takes it only as a
   * fast-forward of what it holds. Exit 1 means the push reached a decision and was refused (by
   * the remote — also when its branch moved meanwhile — or by a pre-push hook); anything else
   * (unreachable, killed after the timeout) is RemoteUnavailable.
   */
  async push(sha: string, branch: string): Promise<PushResult> {
    try {
      await runBounded(this.repoPath, this.identity, ['push', '--porcelain', '--recurse-submodules=no', '--', this.name, `${sha}:refs/heads/${branch}`], this.timeoutMs)
      return { pushed: true }
    } catch (err) {
      if (err instanceof GitCommandError && err.exitCode === 1) {
        // "!\t<from>:<to>\t[rejected] (fetch first)" in porcelain; git's hints are left out
        const summary = err.stdout.split('\n').find((line) => line.startsWith('!\t'))?.split('\t')[2]
        return { pushed: false, reason: [summary, err.stderr.replace(/^hint:.*$/gm, '').trim()].filter(Boolean).join('; ') }
      }
      throw new RemoteUnavailable(`git push to ${this.name} failed: ${said(err)} The remote may or may not have taken ${sha}; if it did, a retry finds the files there and records that commit.`)
    }
  }
}
