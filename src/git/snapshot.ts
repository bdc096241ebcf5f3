import type { GitIdentity } from './open.js'
import type { WorkTreeStatus } from './status.js'

/** The shapes the repository layer reads and answers: its options, a look at the branch and the targets, a commit made. */

export interface RepositoryOptions {
  path: string
  /** undefined = whatever branch HEAD is on */
  branch: string | undefined
  identity: GitIdentity
  remote: string
  /** GIT_REMOTE_TIMEOUT_MS: a push (or fetch) is killed after this long, with everything it started */
  remoteTimeoutMs: number
}

export interface RepositoryInfo {
  path: string
  branch: string | null
  head: string | null
}

/** What the branch head holds at one target path: absent, or a blob id. */
export interface TargetState {
  path: string
  headBlob: string | null
  localChange: boolean
  /** writing it would follow a symbolic link (or cross a file) in the work tree */
  unsafe: boolean
  /** the filter driver its `filter` attribute names, or null; git would store what that driver makes of it */
  filter: string | null
}

export interface Snapshot {
  branch: string
  head: string | null
  checkedOut: boolean
  status: WorkTreeStatus
  targets: TargetState[]
  lockFile: string
  /** the intent file of an earlier commit that could be neither finished nor undone, if there is one */
  unfinishedCommit: string | null
}

export interface CommitOutcome {
  sha: string
  parent: string
  branch: string
}
