import { rm } from 'node:fs/promises'
import { CommitConflict, RemoteBusy, RemoteRejected, RemoteTreeConflict, RepositoryChanged, RepositoryError, TreePathConflict } from './errors.js'
import type { HeldLock, WithLock } from '../store/sql.js'
import type { GitObject, ObjectReader } from './objects.js'
import { GitCommandError } from './open.js'
import { Remote } from './remote.js'
import { blobIds, holdsAll, Repository, type FileToWrite, type StagedCommit } from './repository.js'
import type { CommitOutcome, RepositoryOptions } from './snapshot.js'
import { refuseUnsafeState } from './target-safety.js'
import { fastForwardWorkTree } from './work-tree.js'

/** What a commit with the remote as the truth did. */
export type RemoteCommitOutcome =
  | {
      kind: 'committed'
      sha: string
      parent: string
      branch: string
      /** why the local branch (or work tree) did not follow the pushed commit; null when it did */
      localNotFollowed: string | null
    }
  | { kind: 'unchanged'; branch: string; /** the remote head that already holds the files */ head: string }

/** What an attempt saw of the remote: the head it built on, and that head's blob at each target path. */
interface Sighting {
  head: string
  blobs: Array<string | null>
}

/** The push was refused: the caller finds out whether the remote moved (a lost race) or refuses it as such. */
type Attempt = RemoteCommitOutcome | { kind: 'refused'; reason: string; saw: Sighting }

class PushRefused extends Error {}

const said = (err: unknown) => (err instanceof Error ? err.message : String(err)).trim()

/**
 * GIT_REMOTE_IS_TRUTH: several instances, each with its own clone at REPO_PATH, commit to one
 * remote branch. A commit is built on the remote's head (fetched under a lock shared by every
 * instance), pushed without force, and made only once the push succeeded; the local branch and
 * work tree then follow by fast-forward, as a cache of the remote. Previews compare with the
 * remote head too (look → remoteHead). Everything else — the quarantine, the hooks, the intent,
 * the refusals — is the local commit's (Repository).
 */
export class RemoteTruthRepository extends Repository {
  readonly remote: Remote

  constructor(
    options: RepositoryOptions,
    private readonly cluster: { withLock: WithLock },
  ) {
    super(options)
    this.remote = new Remote(options.path, options.identity, options.remote, options.remoteTimeoutMs)
  }

  /** Start-up: REPO_PATH must be a clone that knows GIT_REMOTE (nothing here clones it). */
  async checkRemote(): Promise<void> {
    const name = this.options.remote
    const url = await this.git.raw(['config', '--get', `remote.${name}.url`]).catch(() => '')
    if (!url.trim()) {
      throw new RepositoryError(
        `GIT_REMOTE_IS_TRUTH=true, but the repository at ${this.options.path} has no remote ${name}; ` +
          `clone the shared remote there (git clone <url> ${this.options.path}), or set GIT_REMOTE to the name it has`,
      )
    }
  }

  /** Not in this mode: a commit that is not pushed does not count (commitToRemote). */
  override commit(_files: FileToWrite[], _message: string, _record?: (outcome: CommitOutcome | null) => Promise<void>): Promise<CommitOutcome | null> {
    return Promise.reject(new Error('with GIT_REMOTE_IS_TRUTH commits are made by commitToRemote'))
  }

  protected override remoteHead(objects: ObjectReader, branch: () => Promise<string>, pinned: string | undefined): Promise<GitObject | null> {
    return branch().then(async (name) => {
      if (pinned) return objects.read(pinned)
      await this.remote.fetch(name)
      return objects.read(`${this.remote.trackingRef(name)}^{commit}`)
    })
  }

  /**
   * Commits exactly `files` onto the remote branch's head and pushes it, under the lock of that
   * remote branch (one commit at a time across the instances sharing it). A push that loses a race
   * anyway (a writer outside the lock) is built again, once, on the new head — unless the remote
   * changed the paths this commit writes (CommitConflict). Nothing counts before the push succeeded.
   * `record` runs under the same lock: instances record their commits in the order they were
   * pushed, so a later commit at the same paths is never superseded by an earlier one recorded
   * after it. It gets the lock, to check it is still held before its record is final.
   */
  commitToRemote(
    files: FileToWrite[],
    message: string,
    record: (outcome: RemoteCommitOutcome, lock: HeldLock) => Promise<void>,
  ): Promise<RemoteCommitOutcome> {
    return this.mutex.run(this.options.path, async () => {
      const branch = await this.branch()
      return this.cluster.withLock(`auto-feature-builder commit ${this.options.remote} ${branch}`, async (lock) => {
        const outcome = await this.pushCommit(files, message, branch)
        await record(outcome, lock)
        return outcome
      })
    })
  }

  private async pushCommit(files: FileToWrite[], message: string, branch: string): Promise<RemoteCommitOutcome> {
    const first = await this.attempt(files, message, branch)
    if (first.kind !== 'refused') return first
    // Refused: the next attempt's fetch tells whether the branch moved (a lost race) or not (a refusal as such).
    const second = await this.attempt(files, message, branch, first)
    if (second.kind !== 'refused') return second
    await this.remote.fetch(branch)
    const now = (await this.git.raw(['rev-parse', '--verify', '--quiet', `${this.remote.trackingRef(branch)}^{commit}`]).catch(() => '')).trim()
    if (now !== second.saw.head) throw new RemoteBusy(`${this.options.remote}/${branch}`)
    throw new RemoteRejected(this.options.remote, second.reason)
  }

  /** Fetch, look, build on the remote head, push; `earlier` is the attempt whose push was refused. */
  private async attempt(files: FileToWrite[], message: string, branch: string, earlier?: { reason: string; saw: Sighting }): Promise<Attempt> {
    const remoteBranch = `${this.options.remote}/${branch}`
    const intentFile = await this.intentFile()
    const paths = files.map((f) => f.path)
    const look = await this.look(paths)
    const scratch = await this.scratchRoot()
    try {
      if (look.snap.branch !== branch) throw new RepositoryChanged(branch) // HEAD went to another branch since the lock was named
      const head = refuseUnsafeState(look.snap)
      const saw: Sighting = { head, blobs: look.snap.targets.map((t) => t.headBlob) }
      if (earlier && head === earlier.saw.head) throw new RemoteRejected(this.options.remote, earlier.reason)
      const blobs = blobIds(files, look.algorithm)
      if (holdsAll(look.snap, blobs)) return { kind: 'unchanged', branch, head }
      if (earlier) {
        const changed = paths.filter((_, i) => saw.blobs[i] !== earlier.saw.blobs[i])
        if (changed.length > 0) throw new CommitConflict(changed, remoteBranch, earlier.saw.head, head)
      }
      const staged = await this.stage({ look, head, files, blobs, message, scratch, intentFile }).catch((err: unknown) => {
        // the remote's tree, unlike the local branch's, is not the work tree the checks looked at
        throw err instanceof TreePathConflict ? new RemoteTreeConflict(remoteBranch, err.path) : err
      })
      const local = look.localHead
      // The intent names the local branch's move, which comes after the push: a crash before it
      // leaves the local branch where it was (behind the remote, which the next fetch makes up for).
      const behind = local !== null && local !== head
      try {
        await this.bringIn(staged, intentFile, scratch, { from: local ?? head, checkedOut: staged.now.checkedOut, ...(behind && { behind: true as const }) }, async () => {
          const pushed = await this.remote.push(staged.sha, branch)
          if (!pushed.pushed) throw new PushRefused(pushed.reason)
        })
      } catch (err) {
        if (err instanceof PushRefused) return { kind: 'refused', reason: err.message, saw }
        throw err
      }
      return { kind: 'committed', sha: staged.sha, parent: head, branch, localNotFollowed: await this.follow(staged, local, message, intentFile) }
    } finally {
      await look.objects.close()
      await rm(scratch, { recursive: true, force: true })
    }
  }

  /**
   * After the push, the local branch follows the pushed commit, and the work tree with it when it
   * is checked out: by fast-forward only. The clone is a cache of the remote, so where it cannot
   * follow it stays as it was, and the reason is returned (the commit is made: this never throws).
   * A local branch one commit behind moves as a local commit's does; one further behind moves with
   * git's two-way merge, which refuses to overwrite a change of the person's.
   */
  private async follow(staged: StagedCommit, local: string | null, message: string, intentFile: string): Promise<string | null> {
    const { sha, parent, branch, now, config, unmerged, paths } = staged
    let keepIntent = false
    try {
      if (local === null) return `there is no local branch ${branch}`
      const behind = local !== parent
      if (behind && !(await this.isAncestor(local, parent))) return `the local branch ${branch} holds commits that ${this.options.remote} lacks; it was left alone`
      if (behind && now.checkedOut && unmerged) return 'the index holds unresolved conflicts; the local branch was left alone'
      await this.moveBranch(branch, local, sha, message)
      if (!now.checkedOut) return null
      try {
        if (behind) await fastForwardWorkTree(this.gitWithout, config.drivers, local, sha)
        else await this.followBranch(local, sha, paths, config.drivers, unmerged)
        return null
      } catch (err) {
        // if not even the branch can be put back, the intent stays: the next start finishes the fast-forward
        keepIntent = !(await this.rollback(branch, local, sha, paths))
        return `the work tree could not follow (${said(err)}); the local branch stays at ${local}`
      }
    } catch (err) {
      return `the local branch could not follow (${said(err)})`
    } finally {
      if (!keepIntent) await rm(intentFile, { force: true }).catch(() => undefined)
    }
  }

  private async isAncestor(older: string, newer: string): Promise<boolean> {
    try {
      await this.git.raw(['merge-base', '--is-ancestor', older, newer])
      return true
    } catch (err) {
      if (err instanceof GitCommandError && err.exitCode === 1) return false
      throw err
    }
  }
}
