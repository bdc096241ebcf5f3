import type { SimpleGit } from 'simple-git'
import { gitClient, type GitIdentity } from './open.js'

export interface RepositoryOptions {
  path: string
  /** undefined = whatever branch HEAD is on */
  branch: string | undefined
  identity: GitIdentity
  remote: string
}

export interface RepositoryInfo {
  path: string
  branch: string | null
  head: string | null
}

/** The one place that touches the target repository. */
export class Repository {
  readonly git: SimpleGit

  constructor(readonly options: RepositoryOptions) {
    this.git = gitClient(options.path, options.identity)
  }

  /** The branch commits go to: COMMIT_BRANCH, or the branch HEAD is on. */
  async branch(): Promise<string> {
    if (this.options.branch) return this.options.branch
    return (await this.git.raw(['symbolic-ref', '--short', 'HEAD'])).trim()
  }

  async info(): Promise<RepositoryInfo> {
    const branch = await this.branch()
    const head = (await this.git.raw(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]).catch(() => '')).trim()
    return { path: this.options.path, branch, head: head || null }
  }
}
