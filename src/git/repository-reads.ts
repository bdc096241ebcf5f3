import { existsSync } from 'node:fs'
import path from 'node:path'
import { DetachedHead } from './errors.js'
import { algorithmOf, commitTree, ObjectReader, TreeReader, type GitObject, type HashAlgorithm } from './objects.js'
import { filterDriversOff, GitCommandError, gitClient, type Git } from './open.js'
import { readFilterAttributes, readRepositoryConfig, type RepositoryConfig } from './reads.js'
import type { RepositoryInfo, RepositoryOptions, Snapshot, TargetState } from './snapshot.js'
import { parsePorcelainV2 } from './status.js'
import { leavesWorkTree } from './target-safety.js'
import type { GitWithout } from './work-tree.js'

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

/**
 * Everything that reads the target repository and writes nothing, not even the index
 * (`--no-optional-locks`, no index refresh): the branch, snapshots for previews and commits,
 * the distance to the remote. Repository adds the commit on top.
 */
export class RepositoryReads {
  protected readonly git: Git

  constructor(readonly options: RepositoryOptions) {
    this.git = gitClient(options.path, options.identity)
  }

  private dirsOnce?: Promise<{ gitDir: string; commonDir: string; objects: string }>

  /** The git dir, common dir and object store as git reports them, so linked worktrees and submodules work too. */
  protected dirs(): Promise<{ gitDir: string; commonDir: string; objects: string }> {
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

  protected branchOf(headRef: string | null): string {
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
  protected async filterDrivers(): Promise<string[]> {
    return (await readRepositoryConfig(this.git)).drivers
  }

  /** A git runner for which `drivers` do nothing, so git status never starts one to compare a file whose stat information is stale. */
  protected readonly gitWithout: GitWithout = (drivers, extraEnv = {}) =>
    gitClient(this.options.path, this.options.identity, { ...extraEnv, ...filterDriversOff(drivers) })

  protected async intentFile(): Promise<string> {
    return path.join(await this.gitDir(), 'auto-feature-builder-commit.json')
  }

  protected async scratchRoot(): Promise<string> {
    return path.join(await this.gitDir(), 'auto-feature-builder-tmp')
  }
}
