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

export function storeReachable(db: Db): boolean {
  try {
    return db.prepare('SELECT 1').pluck().get() === 1
  } catch {
    return false
  }
}
