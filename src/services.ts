import { AuditLog } from './audit/log.js'
import type { Config } from './config.js'
import { Repository } from './git/repository.js'
import type { LoadedPlaybook } from './playbooks/schema.js'
import type { Db } from './store/database.js'
import { WorkflowStore } from './store/workflows.js'
import { WorkflowService } from './workflows/service.js'

/** Everything the routes call into, built once per app. */
export interface Services {
  config: Config
  db: Db
  playbooks: ReadonlyMap<string, LoadedPlaybook>
  store: WorkflowStore
  workflows: WorkflowService
  audit: AuditLog
  repository: Repository
  startedAt: Date
}

export function buildServices(config: Config, db: Db, playbooks: ReadonlyMap<string, LoadedPlaybook>): Services {
  const store = new WorkflowStore(db)
  return {
    config,
    db,
    playbooks,
    store,
    workflows: new WorkflowService(playbooks, store),
    audit: new AuditLog(db),
    repository: new Repository({ path: config.repoPath, branch: config.commitBranch, identity: config.gitAuthor, remote: config.gitRemote }),
    startedAt: new Date(),
  }
}
