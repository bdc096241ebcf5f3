import { open, readFile, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { z } from 'zod'
import { RepositoryError } from './errors.js'

const Sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'not a commit id')

/**
 * What a real commit is about to do, written before its branch moves and removed once the work
 * tree has followed, so that start-up can finish or forget a commit a crash interrupted.
 * (Files written by earlier builds also carry each file's content; it is not needed.)
 */
export const CommitIntent = z.object({
  branch: z.string().min(1),
  from: Sha,
  to: Sha,
  checkedOut: z.boolean(),
  /**
   * the local branch was behind the remote (GIT_REMOTE_IS_TRUTH): `from` is not `to`'s parent, and
   * the work tree follows by git's two-way merge over the other commits too
   */
  behind: z.literal(true).optional(),
  files: z.array(z.object({ path: z.string().min(1) })).min(1),
})
export type CommitIntent = z.infer<typeof CommitIntent>

/**
 * Writes `intent` to `file` whole or not at all: a temporary file in `scratch` (inside the git
 * dir, so on the same file system), fsync, rename over `file`, fsync of the folder. If any step
 * fails, neither the temporary nor `file` is left behind.
 */
export async function writeIntent(file: string, scratch: string, intent: CommitIntent): Promise<void> {
  const temporary = path.join(scratch, path.basename(file))
  let renamed = false
  try {
    const handle = await open(temporary, 'wx')
    try {
      await handle.writeFile(JSON.stringify(intent))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, file)
    renamed = true
    const folder = await open(path.dirname(file), 'r')
    try {
      await folder.sync() // the rename itself survives a power cut
    } finally {
      await folder.close()
    }
  } catch (err) {
    await rm(renamed ? file : temporary, { force: true })
    throw err
  }
}

/**
 * The intent in `file`, or null when there is none. A file that cannot be read as one stops
 * start-up with what to do: it stands for a commit in progress, so neither ignoring it nor
 * guessing is safe.
 */
export async function readIntent(file: string, repoPath: string): Promise<CommitIntent | null> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw damaged(file, repoPath, `it cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw damaged(file, repoPath, `not JSON: ${(err as Error).message}`)
  }
  const parsed = CommitIntent.safeParse(json)
  if (!parsed.success) {
    throw damaged(file, repoPath, `missing or wrong fields: ${[...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(the whole file)'))].join(', ')}`)
  }
  return parsed.data
}

function damaged(file: string, repoPath: string, reason: string): RepositoryError {
  return new RepositoryError(
    `${file} is damaged (${reason}). It describes a commit in progress, so start-up neither ignores it nor guesses. ` +
      'Such a file comes from a write that was cut short, before the branch moved. ' +
      `Check that \`git -C ${repoPath} status\` shows none of the generated files as changed, then remove ${file} and start again.`,
  )
}
