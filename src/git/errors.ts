import { Conflict, ServiceUnavailable } from '../http/problem.js'

/** Start-up faults of the target repository (not HTTP answers: the service refuses to start). */
export class RepositoryError extends Error {
  override name = 'RepositoryError'
}

/** A commit's tree would need a file where the tree holds a folder (or a link), or a folder where it holds a file. */
export class TreePathConflict extends RepositoryError {
  constructor(readonly path: string) {
    super(`${path} appears as both a file and a folder`)
  }
}

/*
 * Every git failure a caller can see is one of these (Renovate's habit): a meaningful title,
 * git's own words in the detail, and a status the caller can act on.
 */
export class LocalChanges extends Conflict {
  constructor(readonly paths: string[]) {
    super('Uncommitted changes in target paths', `These target paths have uncommitted local changes; commit or discard them first: ${paths.join(', ')}`, 'local-changes')
  }
}

export class RepositoryLocked extends Conflict {
  constructor(lockFile: string) {
    super(
      'Repository is locked',
      `${lockFile} exists: another git process is running, or one crashed and left it behind. If no git process is running, remove that file.`,
      'repository-locked',
    )
  }
}

export class RepositoryChanged extends Conflict {
  constructor(branch: string) {
    super('Repository changed', `The branch ${branch} moved while the commit was being made; nothing was written. Try again.`, 'repository-changed')
  }
}

export class HookRejected extends Conflict {
  constructor(hook: string, output: string) {
    super('Commit rejected by a git hook', `The ${hook} hook refused the commit; nothing was written. Hook output: ${output.trim().slice(0, 2000) || '(none)'}`, 'hook-rejected')
  }
}

export class PushRejected extends Conflict {
  constructor(
    readonly commitSha: string,
    remote: string,
    reason: string,
  ) {
    super(
      'Push rejected',
      `The commit ${commitSha} was made locally but ${remote} refused the push (no force is ever used): ${reason.trim().slice(0, 2000)}`,
      'push-rejected',
    )
  }
}

export class DetachedHead extends Conflict {
  constructor() {
    super('HEAD is detached', 'The repository is not on a branch (a rebase or bisect in progress?): check out a branch, or set COMMIT_BRANCH.', 'head-detached')
  }
}

export class UnsafeTargetPath extends Conflict {
  constructor(readonly paths: string[]) {
    super('Unsafe target path', `Writing these paths would follow a symbolic link or cross a file in the work tree; nothing was written: ${paths.join(', ')}`, 'unsafe-target-path')
  }
}

export class FilteredTargetPath extends Conflict {
  constructor(readonly targets: Array<{ path: string; filter: string }>) {
    super(
      'Filtered target path',
      'These target paths have a git filter attribute, and the service runs no filter drivers, so it cannot store them as git would; nothing was written: ' +
        `${targets.map((t) => `${t.path} (filter=${t.filter})`).join(', ')}. Unset the attribute for them in .gitattributes (e.g. "workflows/<type>_* -filter") to commit them.`,
      'filtered-target-path',
    )
  }
}

export class UnfinishedCommit extends Conflict {
  constructor(intentFile: string) {
    super(
      'Unfinished commit',
      `An earlier commit could be neither finished nor undone (a full disk, or a lock held elsewhere); ${intentFile} describes it. ` +
        'Restart the service: start-up finishes that commit. Until then no commit is made.',
      'unfinished-commit',
    )
  }
}

export class BranchMissing extends Conflict {
  constructor(branch: string) {
    super('Branch not found', `The commit branch ${branch} does not exist in the repository`, 'branch-missing')
  }
}

/*
 * With GIT_REMOTE_IS_TRUTH the remote branch is the truth and a commit counts once it is pushed:
 * each of these says that nothing was pushed or recorded.
 */

/** The remote moved while the commit was made, and it changed paths this commit writes. */
export class CommitConflict extends Conflict {
  constructor(
    readonly paths: string[],
    remoteBranch: string,
    builtOn: string,
    remoteHead: string,
  ) {
    super(
      'Commit conflict',
      `While this commit was being made, ${remoteBranch} moved from ${builtOn} to ${remoteHead}, and that changed paths this commit writes: ${paths.join(', ')}. ` +
        'Nothing was pushed or recorded. Preview the workflow again (GET /workflows/{id}/preview compares with the remote) and, if it is still wanted, retry the commit.',
      'commit-conflict',
    )
  }
}

/** The remote refused the push for another reason than a race (a protected branch, a hook): nothing is committed. */
export class RemoteRejected extends Conflict {
  constructor(remote: string, reason: string) {
    super(
      'Push rejected by the remote',
      `${remote} refused the push (no force is ever used); nothing was committed or recorded: ${reason.trim().slice(0, 2000) || '(no reason given)'}`,
      'remote-rejected',
    )
  }
}

/** The remote branch holds a folder or a link where this commit writes a file (or a file where it needs a folder). */
export class RemoteTreeConflict extends Conflict {
  constructor(remoteBranch: string, path: string) {
    super(
      'Unsafe target path',
      `${remoteBranch} holds something else than a file (a folder or a symbolic link), or a file where a folder must be, at ${path}; nothing was pushed or recorded.`,
      'unsafe-target-path',
    )
  }
}

/** The remote has no such branch: there is nothing to build on. */
export class RemoteBranchMissing extends Conflict {
  constructor(remote: string, branch: string) {
    super('Branch not found', `The remote ${remote} has no branch ${branch}; push it there first (git push ${remote} ${branch}).`, 'branch-missing')
  }
}

/** The remote could not be reached, or did not answer in time. */
export class RemoteUnavailable extends ServiceUnavailable {
  constructor(what: string) {
    super('Remote unavailable', `${what.trim().slice(0, 2000)} Nothing was committed or recorded; retry later.`, 'remote-unavailable', 30)
  }
}

/** The push lost the race for the remote branch twice in a row, with no conflict: a retry will do. */
export class RemoteBusy extends ServiceUnavailable {
  constructor(remoteBranch: string) {
    super(
      'Remote busy',
      `${remoteBranch} moved again while this commit was rebuilt on its new head (other writers are pushing to it); nothing was pushed or recorded. Retry the commit.`,
      'remote-busy',
      5,
    )
  }
}

/** git's message for a held index.lock, in any language-neutral part we can rely on. */
export function isIndexLockError(message: string): boolean {
  return /index\.lock/.test(message) && /File exists|exists/i.test(message)
}
