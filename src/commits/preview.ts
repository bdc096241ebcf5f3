import { createTwoFilesPatch } from 'diff'
import type { FileChange, Preview } from '../contract/commit.js'
import type { ArtifactFile } from '../generate/generate.js'
import { algorithmOf, objectId } from '../git/objects.js'
import type { Snapshot } from '../git/repository.js'

const VERB: Record<FileChange['action'], string> = { create: 'Would create', update: 'Would update', unchanged: 'Unchanged' }

/** PURE: what a commit of `files` onto the snapshot's branch would do, and whether it could. */
export function buildPreview(
  workflowId: string,
  repoPath: string,
  snap: Snapshot,
  files: ArtifactFile[],
  headContents: ReadonlyMap<string, string>,
  message: string,
  lockHeld: boolean,
  replaces: { workflow_id: string; commit_sha: string | null } | null = null,
): Preview {
  const changes: FileChange[] = files.map((file, i) => {
    const headBlob = snap.targets[i]?.headBlob ?? null
    // the head's blob id tells the repository's object format (SHA-1 or SHA-256): compare in that one
    const action = headBlob === null ? 'create' : headBlob === objectId('blob', Buffer.from(file.content, 'utf8'), algorithmOf(headBlob)) ? 'unchanged' : 'update'
    const before = headBlob === null ? '' : (headContents.get(file.path) ?? '')
    const diff =
      action === 'unchanged'
        ? ''
        : createTwoFilesPatch(action === 'create' ? '/dev/null' : `a/${file.path}`, `b/${file.path}`, before, file.content, undefined, undefined, { context: 3 })
    return { path: file.path, action, bytes: file.bytes, content: file.content, diff }
  })

  const blockers: string[] = []
  if (snap.unfinishedCommit) blockers.push(`${snap.unfinishedCommit} describes an earlier commit that could be neither finished nor undone: restart the service to finish it`)
  if (!snap.head) blockers.push(`The branch ${snap.branch} has no commit yet`)
  for (const target of snap.targets) {
    if (target.localChange) blockers.push(`${target.path} has uncommitted local changes`)
    if (target.unsafe) blockers.push(`${target.path} would be written through a symbolic link or across a file`)
    if (target.filter) blockers.push(`${target.path} has the git attribute filter=${target.filter}: the service runs no filter drivers, so it cannot store the file as git would`)
  }
  if (lockHeld) blockers.push(`${snap.lockFile} exists: another git process holds the repository`)
  if (changes.every((c) => c.action === 'unchanged')) blockers.push('Nothing would change: the branch already holds these files')

  return {
    workflow_id: workflowId,
    dry_run: true,
    repository: {
      path: repoPath,
      branch: snap.branch,
      head: snap.head,
      clean: snap.status.staged.length + snap.status.unstaged.length + snap.status.untracked.length === 0,
      ...snap.status,
    },
    changes,
    commit_message: message,
    can_commit: blockers.length === 0,
    blockers,
    replaces,
    messages: [
      ...changes.map((c) => `${VERB[c.action]}: ${c.path}`),
      ...(replaces ? [`Would replace workflow ${replaces.workflow_id} (committed ${replaces.commit_sha ?? 'earlier'}), which becomes superseded: one live automation per type`] : []),
      blockers.length === 0 ? `Ready to commit ${changes.filter((c) => c.action !== 'unchanged').length} file(s) to ${snap.branch}` : 'A real commit would be refused now',
    ],
  }
}
