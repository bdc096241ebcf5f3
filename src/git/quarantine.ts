import { lstat, mkdir, readdir, rename, rmdir } from 'node:fs/promises'
import path from 'node:path'
import { allSettledOrThrow } from './settle.js'

/** What migrateObjects moved, and the folders it made, so a commit that fails before its branch moves can take them back. */
export interface MigratedObjects {
  moved: Array<{ from: string; to: string; mtimeMs: number }>
  folders: string[]
}

/**
 * Moves a finished commit's objects from its quarantine into the repository's store, as git's
 * own tmp_objdir_migrate does: loose objects, and packs (written for files over
 * core.bigFileThreshold) with each .idx last, so git never sees an index without its pack.
 * A failure midway takes back what was moved.
 */
export async function migrateObjects(quarantine: string, objects: string): Promise<MigratedObjects> {
  const migrated: MigratedObjects = { moved: [], folders: [] }
  const exists = (file: string) => lstat(file).then(() => true, () => false)
  const folder = async (dir: string) => {
    const made = await mkdir(dir, { recursive: true })
    if (made) migrated.folders.push(made)
  }
  const move = async (from: string, to: string) => {
    if (await exists(to)) return // git already has this object
    const { mtimeMs } = await lstat(from) // a rename keeps it
    await rename(from, to)
    migrated.moved.push({ from, to, mtimeMs })
  }
  try {
    const packDir = path.join(quarantine, 'pack')
    if (await exists(packDir)) {
      await folder(path.join(objects, 'pack'))
      const names = (await readdir(packDir)).sort((a, b) => Number(a.endsWith('.idx')) - Number(b.endsWith('.idx')))
      for (const name of names) await move(path.join(packDir, name), path.join(objects, 'pack', name))
    }
    // loose objects in any order, side by side; every move has ended before a failure is undone
    const fanouts = (await readdir(quarantine)).filter((name) => /^[0-9a-f]{2}$/.test(name))
    await allSettledOrThrow(
      fanouts.map(async (fanout) => {
        await folder(path.join(objects, fanout))
        const names = await readdir(path.join(quarantine, fanout))
        await allSettledOrThrow(names.map((name) => move(path.join(quarantine, fanout, name), path.join(objects, fanout, name))))
      }),
    )
  } catch (err) {
    await unmigrateObjects(migrated)
    throw err
  }
  return migrated
}

/**
 * Moves objects back into the quarantine (discarded with it) and removes the folders made for
 * them, last first (each .idx before its pack). An object whose mtime changed meanwhile was
 * found and reused by another git process (git freshens what it finds instead of writing it
 * again), so it stays.
 */
export async function unmigrateObjects({ moved, folders }: MigratedObjects): Promise<void> {
  for (const { from, to, mtimeMs } of [...moved].reverse()) {
    const stat = await lstat(to).catch(() => null)
    if (stat?.mtimeMs === mtimeMs) await rename(to, from).catch(() => undefined)
  }
  for (const dir of [...folders].reverse()) await rmdir(dir).catch(() => undefined) // only if empty
}
