import { stat } from 'node:fs/promises'
import path from 'node:path'
import type { Repository } from './git/repository.js'
import type { Db } from './store/database.js'

export async function repositoryStatus(repository: Repository) {
  try {
    const info = await repository.info()
    return { ...info, reachable: true, remote: info.branch ? await repository.remoteDistance(info.branch) : null }
  } catch (err) {
    return { path: repository.options.path, branch: null, head: null, reachable: false, error: (err as Error).message }
  }
}

type RepositoryStatus = Awaited<ReturnType<typeof repositoryStatus>>

/**
 * repositoryStatus() costs three git processes (about 10 ms here); /status and /readyz ask for
 * it on every call. It changes only when a ref file does, so the answer is kept with the
 * identity (inode, size, mtime in ns) of every file it depends on and reused while none of them
 * changed. The identity is read BEFORE git runs: a ref moved meanwhile makes the next call
 * differ, never a stale answer that looks fresh. Anything unusual (no git dir, a stat that
 * fails) simply means no reuse.
 */
export class RepositoryStatusCache {
  private last?: { signature: string; status: RepositoryStatus }
  private dirs?: Promise<{ gitDir: string; commonDir: string }>

  constructor(private readonly repository: Repository) {}

  async status(): Promise<RepositoryStatus> {
    const branch = this.last?.status.branch
    const signature = branch ? await this.signature(branch).catch(() => null) : null
    if (signature !== null && this.last?.signature === signature) return this.last.status
    const status = await repositoryStatus(this.repository)
    const now = status.reachable && status.branch ? await this.signature(status.branch).catch(() => null) : null
    // kept only when nothing moved while git ran
    this.last = now !== null && (signature === null || now === signature) ? { signature: now, status } : undefined
    return status
  }

  private async signature(branch: string): Promise<string> {
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
      files.map((file) =>
        stat(file, { bigint: true }).then(
          (s) => `${s.ino}:${s.size}:${s.mtimeNs}`,
          (err: NodeJS.ErrnoException) => {
            if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return '-'
            throw err
          },
        ),
      ),
    )
    return ids.join('|')
  }

  private gitDirs(): Promise<{ gitDir: string; commonDir: string }> {
    this.dirs ??= this.repository.gitDirs().catch((err: unknown) => {
      this.dirs = undefined
      throw err
    })
    return this.dirs
  }
}

export function storeReachable(db: Db): boolean {
  try {
    return db.prepare('SELECT 1').pluck().get() === 1
  } catch {
    return false
  }
}
