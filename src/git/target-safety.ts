import { existsSync } from 'node:fs'
import { lstat } from 'node:fs/promises'
import path from 'node:path'
import { BranchMissing, FilteredTargetPath, LocalChanges, RepositoryLocked, UnfinishedCommit, UnsafeTargetPath } from './errors.js'
import type { Snapshot } from './snapshot.js'

/** Throws the 409 that says why a commit cannot be made now; returns the branch head it would build on. */
export function refuseUnsafeState(snap: Snapshot): string {
  if (snap.unfinishedCommit) throw new UnfinishedCommit(snap.unfinishedCommit)
  if (!snap.head) throw new BranchMissing(snap.branch)
  if (snap.checkedOut && existsSync(snap.lockFile)) throw new RepositoryLocked(snap.lockFile)
  const dirty = snap.targets.filter((t) => t.localChange).map((t) => t.path)
  if (dirty.length > 0) throw new LocalChanges(dirty)
  const unsafe = snap.targets.filter((t) => t.unsafe).map((t) => t.path)
  if (unsafe.length > 0) throw new UnsafeTargetPath(unsafe)
  const filtered = snap.targets.flatMap((t) => (t.filter ? [{ path: t.path, filter: t.filter }] : []))
  if (filtered.length > 0) throw new FilteredTargetPath(filtered)
  return snap.head
}

/**
 * Whether writing `relative` below `root` would leave the work tree: some existing part of the
 * path is a symbolic link, or a file where a folder must be (invariant 5 holds for symlinks too).
 */
export async function leavesWorkTree(root: string, relative: string): Promise<boolean> {
  const parts = relative.split('/')
  let current = root
  for (const [i, part] of parts.entries()) {
    current = path.join(current, part)
    const stat = await lstat(current).catch(() => null)
    if (!stat) return false // the rest does not exist yet: git makes real folders
    if (stat.isSymbolicLink()) return true
    if (i < parts.length - 1 ? !stat.isDirectory() : !stat.isFile()) return true // a file where a folder must be, or a folder where the file goes
  }
  return false
}

