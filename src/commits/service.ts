import { existsSync } from 'node:fs'
import type { FastifyBaseLogger } from 'fastify'
import type { AuditHead } from '../contract/audit.js'
import type { WorkflowRecord } from '../contract/workflow.js'
import type { CommitResult, Preview, Unchanged } from '../contract/commit.js'
import { PushRejected } from '../git/errors.js'
import { NotFound, ServiceUnavailable } from '../http/problem.js'
import type { FileToWrite, Repository, RepositoryInfo } from '../git/repository.js'
import { RemoteTruthRepository } from '../git/remote-commit.js'
import type { AuditContext } from '../http/types.js'
import { StoreUnavailable } from '../store/sql.js'
import type { WorkflowStore } from '../store/workflows.js'
import { commitMessage } from './message.js'
import { buildPreview } from './preview.js'

/**
 * The commit is made (pushed, with the remote as the truth) but the database could not record it:
 * the answer must not say that nothing changed. A retry finds the files there and records it.
 */
class CommitNotRecorded extends ServiceUnavailable {
  constructor(sha: string, where: string, cause: StoreUnavailable) {
    super(
      'Store unavailable',
      `The commit ${sha} is on ${where}, but the database could not record it (${cause.code}). Retry the commit: it finds the commit there and records it.`,
      'store-unavailable',
      5,
    )
  }
}

/** The use cases behind /workflows/{id}/preview and /commits. */
export class CommitService {
  constructor(
    private readonly store: WorkflowStore,
    private readonly repository: Repository,
    private readonly auditHead: () => Promise<AuditHead | null> = () => Promise.resolve(null),
  ) {}

  private async load(id: string) {
    const found = await this.store.getWithFiles(id)
    if (!found) throw new NotFound(`No workflow ${id}`)
    return { ...found, message: commitMessage(found.record, await this.auditHead()) }
  }

  /** The dry run: reads the repository, writes nothing anywhere. */
  async preview(id: string, audit: AuditContext): Promise<Preview> {
    audit.workflow_id = id
    audit.dry_run = true
    const { record, files, message } = await this.load(id)
    audit.issue_type = record.workflow.issue_type
    audit.files = files.map((f) => f.path)
    const { snap, headContents } = await this.repository.snapshotWithContents(files.map((f) => f.path))
    const replaces = await this.store.live(record.workflow.issue_type, snap.branch, record.workflow_id)
    return buildPreview(record.workflow_id, this.repository.options.path, snap, files, headContents, message, snap.checkedOut && existsSync(snap.lockFile), replaces)
  }

  /**
   * The real commit, only ever reached with an explicit `dry_run: false`. `audit` is filled as
   * facts become known, so a failure midway is still audited with what happened.
   */
  async commit(id: string, push: boolean, audit: AuditContext, log: FastifyBaseLogger): Promise<CommitResult | Unchanged> {
    const { record, files, message } = await this.load(id)
    audit.issue_type = record.workflow.issue_type
    audit.files = files.map((f) => f.path)
    log.warn({ workflow_id: id, repo: this.repository.options.path, push }, 'REAL COMMIT requested (dry_run: false)')
    if (this.repository instanceof RemoteTruthRepository) return this.commitToRemote(this.repository, record, files, message, audit, log)
    // set by the record callback (TypeScript cannot see that)
    let replaces = null as CommitResult['replaces']
    let info: RepositoryInfo | undefined
    // recorded before the next commit may start, so commits are recorded in the order they were made
    const outcome = await this.repository.commit(files, message, async (made) => {
      if (made) {
        audit.commit_sha = made.sha
        replaces = await this.recordMade(record, made, `the branch ${made.branch}`)
        return
      }
      info = await this.repository.info()
      if (info.branch) await this.recordFound(record, files, `refs/heads/${info.branch}`, info.branch, log)
    })
    if (!outcome) {
      info ??= await this.repository.info()
      audit.pushed = false
      // a commit whose push was refused earlier is pushed now: the retry of a rejected push
      if (push && info.branch && info.head) {
        await this.repository.push(info.branch, info.head)
        audit.pushed = true
      }
      return {
        status: 'unchanged',
        workflow_id: id,
        dry_run: false,
        branch: info.branch ?? '',
        head: info.head ?? '',
        detail: push ? 'The branch already holds these files; no empty commit was made. The branch was pushed.' : 'The branch already holds these files; no empty commit was made.',
        ...(push && { pushed: true }),
      }
    }
    if (replaces) audit.detail = `replaces workflow ${replaces.workflow_id}, now superseded`
    log.warn({ workflow_id: id, sha: outcome.sha, branch: outcome.branch }, 'REAL COMMIT made')
    let pushed = false
    if (push) {
      try {
        await this.repository.push(outcome.branch, outcome.sha)
        pushed = true
      } catch (err) {
        audit.pushed = false
        if (err instanceof PushRejected) log.warn({ workflow_id: id, sha: outcome.sha }, 'push rejected; the commit stays local')
        throw err
      }
    }
    audit.pushed = pushed
    return {
      workflow_id: id,
      dry_run: false,
      replaces,
      commit: { sha: outcome.sha, branch: outcome.branch, parent: outcome.parent, message, files: files.map((f) => f.path) },
      pushed,
    }
  }

  /**
   * GIT_REMOTE_IS_TRUTH: the commit is made on the remote branch and counts once pushed, so every
   * commit is pushed (`push` changes nothing) and is recorded only then. "Unchanged" means the
   * remote head holds the files: if this workflow is not recorded as committed (another instance
   * made it, or this one died between the push and the record), the commit that wrote them there is.
   */
  private async commitToRemote(
    repository: RemoteTruthRepository,
    record: WorkflowRecord,
    files: FileToWrite[],
    message: string,
    audit: AuditContext,
    log: FastifyBaseLogger,
  ): Promise<CommitResult | Unchanged> {
    const id = record.workflow_id
    const remoteBranch = (branch: string) => `${repository.options.remote}/${branch}`
    audit.pushed = false
    let replaces = null as CommitResult['replaces'] // set by the record callback (TypeScript cannot see that)
    // recorded under the remote branch's lock, so instances record commits in the order they were pushed
    // a lock lost meanwhile (another instance may be recording a later commit): nothing recorded, a 503; the retry finds the commit on the remote
    const outcome = await repository.commitToRemote(files, message, async (made, lock) => {
      const stillHeld = () => lock.assertHeld()
      if (made.kind === 'committed') {
        audit.commit_sha = made.sha
        audit.pushed = true
        replaces = await this.recordMade(record, made, remoteBranch(made.branch), stillHeld)
        return
      }
      await this.recordFound(record, files, made.head, made.branch, log, stillHeld)
    })
    if (outcome.kind === 'unchanged') {
      return {
        status: 'unchanged',
        workflow_id: id,
        dry_run: false,
        branch: outcome.branch,
        head: outcome.head,
        detail: `${remoteBranch(outcome.branch)} already holds these files; no empty commit was made.`,
      }
    }
    const notes = [
      ...(replaces ? [`replaces workflow ${replaces.workflow_id}, now superseded`] : []),
      ...(outcome.localNotFollowed ? [`pushed to ${remoteBranch(outcome.branch)}; the local clone did not follow: ${outcome.localNotFollowed}`] : []),
    ]
    if (notes.length > 0) audit.detail = notes.join('; ')
    log.warn({ workflow_id: id, sha: outcome.sha, branch: outcome.branch, remote: repository.options.remote }, 'REAL COMMIT made and pushed')
    if (outcome.localNotFollowed) log.warn({ workflow_id: id, sha: outcome.sha, reason: outcome.localNotFollowed }, 'the local clone did not follow the pushed commit')
    return {
      workflow_id: id,
      dry_run: false,
      replaces,
      commit: { sha: outcome.sha, branch: outcome.branch, parent: outcome.parent, message, files: files.map((f) => f.path) },
      pushed: true,
    }
  }

  /**
   * "Unchanged": `revision` (the branch head, or the remote's) already holds exactly this workflow's
   * files (their content names its id), so it was committed. If the store missed that — the process
   * died between the commit (or push) and its record, or another instance made it — the commit that
   * wrote them is recorded, or the workflow would stay "generated" for good.
   */
  private async recordFound(record: WorkflowRecord, files: FileToWrite[], revision: string, branch: string, log: FastifyBaseLogger, beforeCommit?: () => void): Promise<void> {
    if (record.status === 'committed') return
    const found = await this.repository.lastCommitTouching(revision, files.map((f) => f.path))
    if (!found) return
    await this.store.markCommitted(record.workflow_id, { sha: found.sha, branch, committed_at: found.committedAt }, beforeCommit)
    log.warn({ workflow_id: record.workflow_id, sha: found.sha, revision }, 'workflow found already committed; its commit is now recorded')
  }

  /**
   * Records the commit just made and returns the workflow it replaces. The commit stands whatever
   * happens here: the store failing now is CommitNotRecorded, whose answer says so.
   */
  private async recordMade(record: WorkflowRecord, made: { sha: string; branch: string }, where: string, beforeCommit?: () => void): Promise<CommitResult['replaces']> {
    try {
      const replaces = await this.store.live(record.workflow.issue_type, made.branch, record.workflow_id)
      await this.store.markCommitted(record.workflow_id, { sha: made.sha, branch: made.branch, committed_at: new Date().toISOString() }, beforeCommit)
      return replaces
    } catch (err) {
      if (err instanceof StoreUnavailable) throw new CommitNotRecorded(made.sha, where, err)
      throw err
    }
  }
}
