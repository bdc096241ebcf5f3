import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { Repository } from './git/repository.js'
import type { SqlSession } from './store/sql.js'

export async function repositoryStatus(repository: Repository) {
  try {
    const info = await repository.info()
    return { ...info, reachable: true, remote: info.branch ? await repository.remoteDistance(info.branch) : null }
  } catch (err) {
    return { path: repository.options.path, branch: null, head: null, reachable: false, error: (err as Error).message }
  }
}

type RepositoryStatus = Awaited<ReturnType<typeof repositoryStatus>>

/** How long an answer may be reused at most, even when no ref file moved: a broken config or object store shows within this. */
export const STATUS_REUSE_MS = 5_000

/**
 * repositoryStatus() costs three git processes (about 10 ms here); /status and /readyz ask for
 * it on every call. Its answer changes when a ref file does, so it is kept with the identity
 * (inode, size, mtime in ns) of every file it depends on, taken BEFORE git runs and again after:
 * it is kept only when the two agree (nothing moved while git ran), and reused while the files
 * still have that identity, for at most STATUS_REUSE_MS. Anything unusual — no HEAD file, a stat
 * that fails, no branch — means no reuse, and the git dir is looked up again.
 */
export class RepositoryStatusCache {
  private last?: { signature: string; status: RepositoryStatus; at: number }
  /** the branch of the last answer, kept even when the answer was not: the next call's signature needs it */
  private branch: string | null = null
  private dirs?: Promise<{ gitDir: string; commonDir: string }>

  constructor(
    private readonly repository: Repository,
    private readonly now: () => number = Date.now,
  ) {}

  async status(): Promise<RepositoryStatus> {
    const before = this.branch ? await this.signature(this.branch) : null
    if (before !== null && this.last?.signature === before && this.now() - this.last.at < STATUS_REUSE_MS) return this.last.status
    const at = this.now()
    const status = await repositoryStatus(this.repository)
    this.branch = status.reachable ? status.branch : null
    const after = before !== null && status.branch === this.branch && status.branch ? await this.signature(status.branch) : null
    this.last = after !== null && after === before ? { signature: before, status, at } : undefined
    return status
  }

  /** null when the files cannot vouch for an answer (no HEAD, a failing stat) */
  private async signature(branch: string): Promise<string | null> {
    try {
      const { gitDir, commonDir } = await this.gitDirs()
      const remote = this.repository.options.remote
      const files = [
        path.join(gitDir, 'HEAD'),
        path.join(commonDir, 'packed-refs'),
        path.join(commonDir, 'reftable', 'tables.list'),
        path.join(commonDir, 'refs', 'heads', branch),
        path.join(commonDir, 'refs', 'remotes', remote, branch),
      ]
      const ids = await Promise.all(
        files.map((file, i) =>
          stat(file, { bigint: true }).then(
            (s) => `${s.ino}:${s.size}:${s.mtimeNs}`,
            (err: NodeJS.ErrnoException) => {
              if (i > 0 && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return '-'
              throw err
            },
          ),
        ),
      )
      return ids.join('|')
    } catch {
      this.dirs = undefined // the git dir may have moved (a gitfile, a re-clone): look it up again
      return null
    }
  }

  private gitDirs(): Promise<{ gitDir: string; commonDir: string }> {
    this.dirs ??= this.repository.gitDirs()
    return this.dirs
  }
}

export async function storeReachable(db: SqlSession): Promise<boolean> {
  try {
    return (await db.get<{ one: number }>('SELECT 1 AS one'))?.one === 1
  } catch {
    return false
  }
}
