import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ArtifactFile } from '../generate/generate.js'
import {
  HookRejected,
  RepositoryError,
  isIndexLockError,
  PushRejected,
  RepositoryChanged,
  RepositoryLocked,
} from './errors.js'
import { findCommitHooks, runHook } from './hooks.js'
import { readIntent, writeIntent } from './intent.js'
import { KeyedMutex } from '../store/keyed-mutex.js'
import { migrateObjects, unmigrateObjects, type MigratedObjects } from './quarantine.js'
import { allSettledOrThrow } from './settle.js'
import { leavesWorkTree, refuseUnsafeState } from './target-safety.js'
import { commitObject, editTree, identityIsPlain, objectId, writeLooseObject, type HashAlgorithm } from './objects.js'
import { GitCommandError, gitClient } from './open.js'
import type { CommitOutcome, Snapshot } from './snapshot.js'
import { readTreeEntries, type RepositoryConfig } from './reads.js'
import { RepositoryReads, type Look } from './repository-reads.js'
import { runBounded } from './remote.js'
import { fastForwardWorkTree, updateIndex, writeWorkTree } from './work-tree.js'

export type { CommitOutcome, RepositoryInfo, RepositoryOptions, Snapshot, TargetState } from './snapshot.js'
export type { Look } from './repository-reads.js'

export type FileToWrite = Pick<ArtifactFile, 'path' | 'content'>

/** A commit whose objects wait in the quarantine: nothing of it is in the repository yet. */
export interface StagedCommit {
  sha: string
  /** the commit it is built on */
  parent: string
  branch: string
  paths: string[]
  /** the state right before anything is written (after hooks, looked at anew) */
  now: Snapshot
  config: RepositoryConfig
  unmerged: boolean
  quarantine: string
}

/** The ids git gives `files` as blobs. */
export function blobIds(files: FileToWrite[], algorithm: HashAlgorithm): string[] {
  return files.map((f) => objectId('blob', Buffer.from(f.content, 'utf8'), algorithm))
}

/** Whether the snapshot's head already holds exactly these blobs at the target paths. */
export function holdsAll(snap: Snapshot, blobs: string[]): boolean {
  return snap.targets.every((t, i) => t.headBlob === blobs[i])
}

/**
 * The one place that touches the target repository. Reads never write (`--no-optional-locks`,
 * no index refresh), and a real commit is built on a private temporary index, so a person's
 * staged, unstaged and untracked work is never swept in. Commits are serialized per repository.
 */
export class Repository extends RepositoryReads {
  /** one commit at a time per repository: concurrent commits queue instead of racing for git's index.lock or the branch ref */
  protected readonly mutex = new KeyedMutex()

  /**
   * Commits exactly `files` onto the branch head, or returns null when they are already there.
   * Nothing is written to the branch, index or work tree unless every step before has succeeded;
   * a failure before the branch moves leaves .git as it was, one after puts the branch back.
   * `record` runs before the next commit may start (the outcome is null when the branch already
   * holds the files): the store then records commits in the order they were made, so a later
   * commit at the same paths is never superseded by an earlier one recorded after it.
   */
  commit(files: FileToWrite[], message: string, record: (outcome: CommitOutcome | null) => Promise<void>): Promise<CommitOutcome | null> {
    return this.mutex.run(this.options.path, async () => {
      const outcome = await this.commitLocked(files, message)
      await record(outcome)
      return outcome
    })
  }

  private async commitLocked(files: FileToWrite[], message: string): Promise<CommitOutcome | null> {
    const intentFile = await this.intentFile()
    const paths = files.map((f) => f.path)
    const look = await this.look(paths)
    const scratch = await this.scratchRoot()
    try {
      const head = refuseUnsafeState(look.snap)
      const blobs = blobIds(files, look.algorithm)
      if (holdsAll(look.snap, blobs)) return null
      const staged = await this.stage({ look, head, files, blobs, message, scratch, intentFile })
      const { sha, branch, now, config, unmerged } = staged
      await this.bringIn(staged, intentFile, scratch, { from: head, checkedOut: now.checkedOut }, () => this.moveBranch(branch, head, sha, message))
      if (now.checkedOut) {
        try {
          await this.followBranch(head, sha, paths, config.drivers, unmerged)
        } catch (err) {
          // if not even the branch can be put back, the intent stays: the next start finishes the commit
          if (await this.rollback(branch, head, sha, paths)) await rm(intentFile, { force: true })
          const text = err instanceof Error ? err.message : String(err)
          if (isIndexLockError(text)) throw new RepositoryLocked(now.lockFile)
          throw err
        }
      }
      await rm(intentFile, { force: true })
      return { sha, parent: head, branch }
    } finally {
      await look.objects.close()
      await rm(scratch, { recursive: true, force: true })
    }
  }

  /**
   * Makes the commit of `files` on `head` (the look's head, which refuseUnsafeState vouched for)
   * in a quarantine object store, running the commit hooks; nothing is written into the
   * repository. The caller removes `scratch`.
   */
  protected async stage(s: { look: Look; head: string; files: FileToWrite[]; blobs: string[]; message: string; scratch: string; intentFile: string }): Promise<StagedCommit> {
    const { look, head, files, blobs, message, scratch, intentFile } = s
    const { snap, algorithm } = look
    const paths = files.map((f) => f.path)
    const contents = files.map((f) => Buffer.from(f.content, 'utf8'))

    // Inside .git, so a crash's leftovers are found and removed at the next start; one at a time (the mutex).
    const { objects } = await this.dirs()
    await rm(scratch, { recursive: true, force: true })
    await mkdir(scratch, { recursive: true })
    // A quarantine object store: until the commit is certain, nothing is written into the
    // repository at all. The blobs, the trees along the target paths and the commit are
    // written here by the service itself (no git process); the person's index is never read
    // or written to build the commit.
    const quarantine = path.join(scratch, 'objects')
    await mkdir(quarantine)
    const write = (type: string, body: Buffer) => writeLooseObject(quarantine, type, body, algorithm)
    // every write has ended before a failure (a tree conflict) reaches the caller, who removes the quarantine
    const [, edited] = await allSettledOrThrow([
      // a blob the branch head already holds at its path is in the repository: not written again
      allSettledOrThrow(contents.map(async (content, i) => (snap.targets[i]?.headBlob === blobs[i] ? null : write('blob', content)))),
      editTree(look.trees, look.rootTree, paths.map((p, i) => ({ path: p, blob: blobs[i] as string })), write),
    ])
    let tree = edited
    await look.objects.close()

    let now = snap
    let { config, unmerged } = look
    let messageBytes = Buffer.from(message, 'utf8')
    const messageFile = path.join(scratch, 'message')
    // git, where git is needed: with a private index, writing into the quarantine
    const privateGit = gitClient(this.options.path, this.options.identity, {
      GIT_INDEX_FILE: path.join(scratch, 'index'),
      GIT_OBJECT_DIRECTORY: quarantine,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: objects,
      // git itself then refuses ref updates from hooks while objects are quarantined
      GIT_QUARANTINE_PATH: quarantine,
    })
    const hooks = await findCommitHooks(this.git, this.options.path, async () => (await this.dirs()).commonDir, config.hooksPath)
    if (hooks['pre-commit'] || hooks['commit-msg']) {
      // The hooks see what `git commit` shows them: a (private) index holding the commit's tree,
      // and the message in a file. What they add to that index, or write to the message, is committed.
      await privateGit.raw(['read-tree', tree])
      await writeFile(messageFile, messageBytes)
      if (hooks['pre-commit']) await runHook(privateGit, 'pre-commit', [])
      if (hooks['commit-msg']) await runHook(privateGit, 'commit-msg', [messageFile])
      tree = (await privateGit.raw(['write-tree'])).trim()
      messageBytes = await readFile(messageFile)

      // The hooks ran for as long as they liked and may have changed the work tree (a symbolic
      // link where a target folder was, say) or the configuration: look again, right before
      // anything is written.
      const again = await this.look(paths, head)
      await again.objects.close()
      if (again.snap.branch !== snap.branch || again.snap.head !== head) throw new RepositoryChanged(snap.branch)
      refuseUnsafeState(again.snap)
      ;({ snap: now, config, unmerged } = again)
    } else {
      // Nothing of the person's ran since the snapshot, a few milliseconds ago: the checks that
      // cost no process (an intent file, index.lock, a symbolic link on a target path) once more.
      const targets = await Promise.all(snap.targets.map(async (t) => ({ ...t, unsafe: snap.checkedOut && (await leavesWorkTree(this.options.path, t.path)) })))
      refuseUnsafeState({ ...snap, targets, unfinishedCommit: existsSync(intentFile) ? intentFile : null })
    }
    let sha: string
    if (identityIsPlain(this.options.identity)) {
      sha = await write('commit', commitObject({ tree, parent: head, identity: this.options.identity, date: new Date(), message: messageBytes, encoding: config.commitEncoding }))
    } else {
      // an identity git would clean up, each version in its own way: git writes the commit
      await writeFile(messageFile, messageBytes)
      sha = (await privateGit.raw(['commit-tree', tree, '-p', head, '-F', messageFile])).trim()
    }
    return { sha, parent: head, branch: snap.branch, paths, now, config, unmerged, quarantine }
  }

  /**
   * The intent (whole or not at all), then the objects, then `publish`, the step that makes the
   * commit real (the branch moves, or the push); until it has succeeded, a failure takes back what
   * was done. The caller removes the intent once the work tree follows, so a crash in between is
   * finished at the next start (recoverInterruptedCommit) instead of leaving a work tree that looks
   * like it reverts the commit. (The intent and the objects are written side by side: `publish`
   * runs only once both are there.)
   */
  protected async bringIn(
    staged: StagedCommit,
    intentFile: string,
    scratch: string,
    intent: { from: string; checkedOut: boolean; behind?: true },
    publish: () => Promise<void>,
  ): Promise<void> {
    const { objects } = await this.dirs()
    const [intentWritten, migration] = await Promise.allSettled([
      writeIntent(intentFile, scratch, {
        branch: staged.branch,
        from: intent.from,
        to: staged.sha,
        checkedOut: intent.checkedOut,
        ...(intent.behind && { behind: true }),
        files: staged.paths.map((p) => ({ path: p })),
      }),
      migrateObjects(staged.quarantine, objects),
    ])
    let migrated: MigratedObjects | undefined
    try {
      if (migration.status === 'fulfilled') migrated = migration.value
      if (intentWritten.status === 'rejected') throw intentWritten.reason
      if (migration.status === 'rejected') throw migration.reason // it has taken back what it moved
      await publish()
    } catch (err) {
      if (migrated) await unmigrateObjects(migrated)
      await rm(intentFile, { force: true })
      throw err
    }
  }

  /**
   * Brings the work tree and the person's index from `from` to `to` for `paths` (the only paths
   * that differ), by git alone. One `git read-tree --reset -u <from> <to>`: a two-tree merge into
   * the person's index that keeps every entry the two commits agree on (their staged work), writes
   * the changed files with `lstat` on every leading folder (never through a symbolic link), then
   * writes the index once, with the files' fresh stat information. `--reset` overwrites what
   * stands in the way at a target path, as the checks before allow. It would also drop unresolved
   * conflicts, so with a conflict in the index the files are written from a throwaway index instead.
   */
  protected async followBranch(from: string, to: string, paths: string[], drivers: string[], unmerged: boolean): Promise<void> {
    if (unmerged) {
      await writeWorkTree(this.gitWithout, await this.scratchRoot(), await readTreeEntries(this.git, to, paths), paths, drivers)
      await updateIndex(this.gitWithout, paths, drivers)
      return
    }
    await this.gitWithout(drivers).raw(['read-tree', '--reset', '-u', from, to])
  }

  /**
   * Compare-and-swap of the branch from `from` to `to`: RepositoryChanged if anyone moved it since
   * the snapshot (or is moving it: its lock file exists), HookRejected if a reference-transaction
   * hook refused the update; any other failure (a full disk) as git reported it.
   */
  protected async moveBranch(branch: string, from: string, to: string, message: string): Promise<void> {
    try {
      await this.git.raw(['update-ref', '-m', `auto-feature-builder: ${message.split('\n')[0]}`, `refs/heads/${branch}`, to, from])
    } catch (err) {
      const now = await this.branchHead(branch)
      if (now === to) return // it moved after all: its objects must stay
      const text = err instanceof GitCommandError ? err.stderr : String(err)
      if (now !== from || /\.lock': File exists/.test(text)) throw new RepositoryChanged(branch)
      if (/aborted by (the reference-transaction )?hook/.test(text)) throw new HookRejected('reference-transaction', text) // git 2.39 / newer wording
      throw err
    }
  }

  /**
   * Finishes or forgets a commit that a crash interrupted: if the branch already points at the
   * new commit, the work tree and index are brought along; otherwise the branch never moved.
   * Returns what it did, for the start-up log; a damaged intent file stops start-up (readIntent).
   */
  async recoverInterruptedCommit(): Promise<'none' | 'completed' | 'discarded'> {
    await rm(await this.scratchRoot(), { recursive: true, force: true }) // private indexes of commits that died
    const intent = await readIntent(await this.intentFile(), this.options.path)
    if (!intent) return 'none'
    const head = await this.branchHead(intent.branch)
    let outcome: 'completed' | 'discarded' = head === intent.to ? 'completed' : 'discarded'
    if (outcome === 'completed' && intent.checkedOut && intent.behind) {
      outcome = await this.recoverFastForward(intent.branch, intent.from, intent.to)
    } else if (outcome === 'completed' && intent.checkedOut) {
      try {
        const paths = intent.files.map((f) => f.path)
        const drivers = await this.filterDrivers()
        await writeWorkTree(this.gitWithout, await this.scratchRoot(), await readTreeEntries(this.git, intent.to, paths), paths, drivers)
        await updateIndex(this.gitWithout, paths, drivers)
      } catch (err) {
        throw new RepositoryError(
          `could not finish the commit ${intent.to} that the previous process left half-applied (${(err as Error).message.trim()}). ` +
            `If no git process is running, remove ${path.join(await this.gitDir(), 'index.lock')} and start again.`,
        )
      }
    }
    await rm(await this.intentFile(), { force: true })
    await rm(await this.scratchRoot(), { recursive: true, force: true })
    return outcome
  }

  /**
   * An interrupted fast-forward of the local branch over commits made elsewhere (the remote as the
   * truth: the commit is on the remote). git's two-way merge brings the work tree and index along;
   * where it refuses (a change of the person's, or files a cut-short merge already wrote), the
   * local branch goes back instead: the clone only caches the remote, which keeps the commit, and
   * nothing of the person's is overwritten.
   */
  private async recoverFastForward(branch: string, from: string, to: string): Promise<'completed' | 'discarded'> {
    try {
      await fastForwardWorkTree(this.gitWithout, await this.filterDrivers(), from, to)
      return 'completed'
    } catch {
      try {
        await this.git.raw(['update-ref', `refs/heads/${branch}`, from, to])
      } catch (err) {
        throw new RepositoryError(`could not bring the local branch ${branch} back from ${to} to ${from} (${(err as Error).message.trim()}); the remote holds ${to}.`)
      }
      return 'discarded'
    }
  }

  /**
   * Undo a commit whose work-tree sync failed: branch back to its parent, files back to what it
   * held. The person's index is written last by a sync, so a failed sync never changed it.
   * Returns whether the branch is back.
   */
  protected async rollback(branch: string, parent: string, sha: string, paths: string[]): Promise<boolean> {
    try {
      await this.git.raw(['update-ref', `refs/heads/${branch}`, parent, sha])
    } catch {
      return false
    }
    // best effort: the branch is already back; a file that cannot be restored is reported by status
    await Promise.all([readTreeEntries(this.git, parent, paths), this.filterDrivers(), this.scratchRoot()])
      .then(([entries, drivers, scratch]) => writeWorkTree(this.gitWithout, scratch, entries, paths, drivers))
      .catch(() => undefined)
    return true
  }

  /**
   * Pushes the branch without force; a refusal keeps the local commit and says why. Bounded like
   * the remote-truth mode's network commands: after GIT_REMOTE_TIMEOUT_MS git is killed with what
   * it started (ssh, the remote's hooks).
   */
  async push(branch: string, commitSha: string): Promise<void> {
    const ref = `refs/heads/${branch}`
    try {
      await runBounded(this.options.path, this.options.identity, ['push', '--porcelain', '--', this.options.remote, `${ref}:${ref}`], this.options.remoteTimeoutMs)
    } catch (err) {
      throw new PushRejected(commitSha, this.options.remote, err instanceof Error ? err.message : String(err))
    }
  }
}
