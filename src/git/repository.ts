import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ArtifactFile } from '../generate/generate.js'
import {
  DetachedHead,
  HookRejected,
  RepositoryError,
  isIndexLockError,
  PushRejected,
  RepositoryChanged,
  RepositoryLocked,
} from './errors.js'
import { findCommitHooks, runHook } from './hooks.js'
import { readIntent, writeIntent } from './intent.js'
import { Mutex } from './mutex.js'
import { migrateObjects, unmigrateObjects, type MigratedObjects } from './quarantine.js'
import { allSettledOrThrow } from './settle.js'
import { leavesWorkTree, refuseUnsafeState } from './target-safety.js'
import { algorithmOf, commitObject, commitTree, editTree, identityIsPlain, ObjectReader, objectId, TreeReader, writeLooseObject, type GitObject, type HashAlgorithm } from './objects.js'
import { filterDriversOff, GitCommandError, gitClient, type Git } from './open.js'
import type { CommitOutcome, RepositoryInfo, RepositoryOptions, Snapshot, TargetState } from './snapshot.js'
import { readFilterAttributes, readRepositoryConfig, readTreeEntries, type RepositoryConfig } from './reads.js'
import { runBounded } from './remote.js'
import { parsePorcelainV2 } from './status.js'
import { fastForwardWorkTree, updateIndex, writeWorkTree, type GitWithout } from './work-tree.js'

export type { CommitOutcome, RepositoryInfo, RepositoryOptions, Snapshot, TargetState } from './snapshot.js'

export type FileToWrite = Pick<ArtifactFile, 'path' | 'content'>

/**
 * A snapshot and what it was read with, for a commit to build on: the configuration, whether the
 * index holds conflicts, the objects of the branch head (trees read once), and the open reader.
 */
export interface Look {
  snap: Snapshot
  /** the local branch's head; snap.head is the commit to build on, which is the remote's when the remote is the truth */
  localHead: string | null
  config: RepositoryConfig
  unmerged: boolean
  algorithm: HashAlgorithm
  rootTree: string | null
  trees: TreeReader
  objects: ObjectReader
}

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
export class Repository {
  protected readonly git: Git
  protected readonly mutex = new Mutex()

  constructor(readonly options: RepositoryOptions) {
    this.git = gitClient(options.path, options.identity)
  }

  private dirsOnce?: Promise<{ gitDir: string; commonDir: string; objects: string }>

  /** The git dir, common dir and object store as git reports them, so linked worktrees and submodules work too. */
  private dirs(): Promise<{ gitDir: string; commonDir: string; objects: string }> {
    this.dirsOnce ??= this.git.raw(['rev-parse', '--absolute-git-dir', '--git-common-dir', '--git-path', 'objects']).then(
      (out) => {
        const [gitDir = '', commonDir = '', objects = ''] = out.trim().split('\n')
        return { gitDir, commonDir: path.resolve(this.options.path, commonDir), objects: path.resolve(this.options.path, objects) }
      },
      (err: unknown) => {
        this.dirsOnce = undefined // not cached: the repository may become reachable again
        throw err
      },
    )
    return this.dirsOnce
  }

  protected async gitDir(): Promise<string> {
    return (await this.dirs()).gitDir
  }

  /** The branch commits go to: COMMIT_BRANCH, or the branch HEAD is on. */
  async branch(): Promise<string> {
    return this.branchOf(await this.headRef())
  }

  private branchOf(headRef: string | null): string {
    if (this.options.branch) return this.options.branch
    if (!headRef) throw new DetachedHead()
    return headRef.replace(/^refs\/heads\//, '')
  }

  /** The ref HEAD points at (refs/heads/…), or null when HEAD is detached. */
  private async headRef(): Promise<string | null> {
    try {
      return (await this.git.raw(['symbolic-ref', '--quiet', 'HEAD'])).trim()
    } catch (err) {
      // --quiet: exit 1 without a word means "not a symbolic ref", i.e. detached; anything else is a real failure
      if (err instanceof GitCommandError && err.exitCode === 1 && err.stderr.trim() === '') return null
      throw err
    }
  }

  protected async branchHead(branch: string): Promise<string | null> {
    const sha = await this.git.raw(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]).catch(() => '')
    return sha.trim() || null
  }

  async info(): Promise<RepositoryInfo> {
    const branch = await this.branch()
    return { path: this.options.path, branch, head: await this.branchHead(branch) }
  }

  /** Where HEAD and the refs live (linked worktrees keep HEAD apart from the shared refs): for the status cache. */
  async gitDirs(): Promise<{ gitDir: string; commonDir: string }> {
    const [gitDir = '', commonDir = ''] = (await this.git.raw(['rev-parse', '--absolute-git-dir', '--git-common-dir'])).trim().split('\n')
    return { gitDir, commonDir: path.resolve(this.options.path, commonDir) }
  }

  /**
   * How far `branch` is ahead of and behind the remote's copy as last fetched or pushed
   * (refs/remotes/<remote>/<branch>); null when there is no such copy.
   */
  async remoteDistance(branch: string): Promise<{ remote: string; ahead: number; behind: number } | null> {
    const tracking = `refs/remotes/${this.options.remote}/${branch}`
    try {
      const [ahead, behind] = (await this.git.raw(['rev-list', '--left-right', '--count', `refs/heads/${branch}...${tracking}`])).trim().split(/\s+/).map(Number)
      return { remote: this.options.remote, ahead: ahead ?? 0, behind: behind ?? 0 }
    } catch {
      return null
    }
  }

  /** The newest commit reachable from `revision` (a branch's ref, a commit id) that changed any of `paths`, with its committer date (ISO); null when none did. */
  async lastCommitTouching(revision: string, paths: string[]): Promise<{ sha: string; committedAt: string } | null> {
    const [sha, date] = (await this.git.raw(['log', '-1', '--format=%H %cI', revision, '--', ...paths])).trim().split(' ')
    return sha && date ? { sha, committedAt: new Date(date).toISOString() } : null
  }

  /** A read-only look at the repository and the target paths; writes nothing, not even the index. */
  async snapshot(paths: string[]): Promise<Snapshot> {
    const look = await this.look(paths)
    await look.objects.close()
    return look.snap
  }

  /**
   * snapshot(), with what the branch head holds at each target path that it has (as UTF-8 text),
   * read by the same git process as the snapshot: for the preview's diffs.
   */
  async snapshotWithContents(paths: string[]): Promise<{ snap: Snapshot; headContents: Map<string, string> }> {
    const look = await this.look(paths)
    try {
      const headContents = new Map<string, string>()
      const objects = await Promise.all(look.snap.targets.map((t) => (t.headBlob ? look.objects.read(t.headBlob) : null)))
      for (const [i, target] of look.snap.targets.entries()) {
        const object = objects[i]
        if (object?.type === 'blob') headContents.set(target.path, object.body.toString('utf8'))
      }
      return { snap: look.snap, headContents }
    } finally {
      await look.objects.close()
    }
  }

  /**
   * The snapshot in four git processes, whatever the number of paths: the configuration; `git
   * status` (porcelain v2, which also names the branch HEAD is on), run while every configured
   * filter driver does nothing; the `filter` attributes; and one `cat-file --batch` for the branch
   * head, its trees and (for the preview) the blobs. The reader stays open for the caller, who
   * closes it. `pinned`: the commit an earlier look of this operation built on (see remoteHead).
   */
  protected async look(paths: string[], pinned?: string): Promise<Look> {
    const objects = new ObjectReader(this.options.path, this.options.identity)
    try {
      const config = readRepositoryConfig(this.git)
      const filters = readFilterAttributes(this.git, paths)
      const report = config.then(async ({ drivers }) =>
        parsePorcelainV2(await this.gitWithout(drivers).raw(['--no-optional-locks', 'status', '--porcelain=v2', '-z', '--branch', '--no-ahead-behind', '--untracked-files=all'])),
      )
      // With COMMIT_BRANCH the branch head is read right away. Without, HEAD's commit and the trees
      // along the target paths are read while status runs; status then names HEAD's branch and the
      // commit it was at, and only if that is another commit (the branch just moved) is it read again.
      const readHead = (branch: string) => objects.read(`refs/heads/${branch}^{commit}`)
      let trees: TreeReader | undefined
      const treesFor = (oid: string) => (trees ??= new TreeReader(objects, algorithmOf(oid)))
      const early = this.options.branch
        ? null
        : objects
            .read('HEAD^{commit}')
            .then((found) => {
              if (found?.type === 'commit') for (const p of paths) treesFor(found.oid).at(commitTree(found.body), p).catch(() => null)
              return found
            })
            .catch(() => null) // a guess only: status decides, and the branch is read again if need be
      const headCommit = this.options.branch
        ? readHead(this.options.branch)
        : report.then(async (r) => {
            if (!r.headRef) return null
            const found = await early
            return found && found.oid === r.headOid ? found : readHead(r.headRef.replace(/^refs\/heads\//, ''))
          })
      const branchName = () => (this.options.branch ? Promise.resolve(this.options.branch) : report.then((r) => this.branchOf(r.headRef)))
      const remoteCommit = this.remoteHead(objects, branchName, pinned)
      const [{ status, headRef, unmerged }, localCommit, fromRemote, filter, cfg] = await Promise.all([report, headCommit, remoteCommit, filters, config])
      const commit = remoteCommit ? fromRemote : localCommit
      const name = this.branchOf(headRef)
      const head = commit?.type === 'commit' ? commit.oid : null
      const algorithm = algorithmOf(head ?? '')
      const headTrees = treesFor(head ?? '')
      const rootTree = commit && head ? commitTree(commit.body) : null
      const headEntries = await Promise.all(paths.map((p) => (rootTree ? headTrees.at(rootTree, p) : null)))
      const changed = new Set([...status.staged, ...status.unstaged, ...status.untracked])
      const checkedOut = headRef === `refs/heads/${name}`
      const targets: TargetState[] = await Promise.all(
        paths.map(async (p, i) => ({
          path: p,
          headBlob: headEntries[i]?.oid ?? null,
          localChange: checkedOut && changed.has(p),
          unsafe: checkedOut && (await leavesWorkTree(this.options.path, p)),
          filter: filter.get(p) ?? null,
        })),
      )
      const intentFile = await this.intentFile()
      const snap: Snapshot = { branch: name, head, checkedOut, status, targets, lockFile: path.join(await this.gitDir(), 'index.lock'), unfinishedCommit: existsSync(intentFile) ? intentFile : null }
      const localHead = localCommit?.type === 'commit' ? localCommit.oid : null
      return { snap, localHead, config: cfg, unmerged, algorithm, rootTree, trees: headTrees, objects }
    } catch (err) {
      await objects.close()
      throw err
    }
  }

  /**
   * The commit to build on and compare with when it is not the local branch head (null: it is).
   * RemoteTruthRepository answers the remote branch's head, fetched first, or `pinned` when an
   * earlier look of the same operation already did.
   */
  protected remoteHead(_objects: ObjectReader, _branch: () => Promise<string>, _pinned: string | undefined): Promise<GitObject | null> | null {
    return null
  }

  /** The filter drivers the repository configures, read afresh (start-up recovery and rollback). */
  private async filterDrivers(): Promise<string[]> {
    return (await readRepositoryConfig(this.git)).drivers
  }

  /** A git runner for which `drivers` do nothing, so git status never starts one to compare a file whose stat information is stale. */
  protected readonly gitWithout: GitWithout = (drivers, extraEnv = {}) =>
    gitClient(this.options.path, this.options.identity, { ...extraEnv, ...filterDriversOff(drivers) })

  /**
   * Commits exactly `files` onto the branch head, or returns null when they are already there.
   * Nothing is written to the branch, index or work tree unless every step before has succeeded;
   * a failure before the branch moves leaves .git as it was, one after puts the branch back.
   */
  /**
   * `record` runs before the next commit may start (the outcome is null when the branch already
   * holds the files): the store then records commits in the order they were made, so a later
   * commit at the same paths is never superseded by an earlier one recorded after it.
   */
  commit(files: FileToWrite[], message: string, record: (outcome: CommitOutcome | null) => Promise<void> = async () => undefined): Promise<CommitOutcome | null> {
    return this.mutex.run(async () => {
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

  protected async intentFile(): Promise<string> {
    return path.join(await this.gitDir(), 'auto-feature-builder-commit.json')
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

  protected async scratchRoot(): Promise<string> {
    return path.join(await this.gitDir(), 'auto-feature-builder-tmp')
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

  /** Pushes the branch without force; a refusal keeps the local commit and says why. */
  /** Bounded like the remote-truth mode's network commands: after GIT_REMOTE_TIMEOUT_MS git is killed with what it started (ssh, the remote's hooks). */
  async push(branch: string, commitSha: string): Promise<void> {
    const ref = `refs/heads/${branch}`
    try {
      await runBounded(this.options.path, this.options.identity, ['push', '--porcelain', '--', this.options.remote, `${ref}:${ref}`], this.options.remoteTimeoutMs)
    } catch (err) {
      throw new PushRejected(commitSha, this.options.remote, err instanceof Error ? err.message : String(err))
    }
  }
}
