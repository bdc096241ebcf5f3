import { mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { Git } from './open.js'
import type { TreeEntry } from './reads.js'

/** A git runner for which the given filter drivers do nothing (Repository.gitWithout). */
export type GitWithout = (drivers: string[], extraEnv?: Record<string, string>) => Git

/**
 * Makes `paths` in the work tree what `entries` say, removing those it lacks. Only git writes
 * and deletes here — `checkout-index` and `clean`, from a throwaway index holding just these
 * entries — and both look at every leading folder with lstat and never write or delete through
 * a symbolic link, whenever the link was made (one in the way is replaced by a real folder, as
 * `git checkout` does). Filter `drivers` stay off: targets with a filter attribute are refused.
 */
export async function writeWorkTree(gitWithout: GitWithout, scratch: string, entries: Map<string, TreeEntry>, paths: string[], drivers: string[]): Promise<void> {
  await mkdir(scratch, { recursive: true })
  const index = path.join(scratch, 'work-tree-index')
  await rm(index, { force: true })
  try {
    const git = gitWithout(drivers, { GIT_INDEX_FILE: index })
    const present = paths.filter((p) => entries.has(p))
    const absent = paths.filter((p) => !entries.has(p))
    if (present.length > 0) {
      await git.raw(['update-index', '--add', ...present.flatMap((p) => ['--cacheinfo', `${entries.get(p)?.mode},${entries.get(p)?.blob},${p}`])])
      await git.raw(['checkout-index', '--force', '--', ...present])
    }
    // untracked as far as this index knows; -x: even if ignored. A folder standing there stays (no -d).
    if (absent.length > 0) await git.raw(['--literal-pathspecs', 'clean', '--force', '-x', '--quiet', '--', ...absent])
  } finally {
    await rm(index, { force: true })
  }
}

/**
 * Brings the person's index along for `paths`, in one write, after the work tree: files are
 * hashed as just written (so their stat information is current) and missing ones dropped.
 */
export async function updateIndex(gitWithout: GitWithout, paths: string[], drivers: string[]): Promise<void> {
  await gitWithout(drivers).raw(['update-index', '--add', '--remove', '--', ...paths])
}

/**
 * Brings the work tree and the person's index from `from` to `to` when `to` also holds commits
 * made elsewhere (the local branch fast-forwards over what other instances pushed): git's two-way
 * merge checks every path that differs before it writes any, refuses to overwrite a change of the
 * person's (or an untracked file), keeps their staged work, and writes the index last.
 */
export async function fastForwardWorkTree(gitWithout: GitWithout, drivers: string[], from: string, to: string): Promise<void> {
  await gitWithout(drivers).raw(['read-tree', '-m', '-u', from, to])
}
