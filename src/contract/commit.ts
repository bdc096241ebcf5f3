import { z } from 'zod'

export const RepositoryState = z
  .object({
    path: z.string(),
    branch: z.string(),
    head: z.string().nullable(),
    clean: z.boolean().describe('No staged, unstaged or untracked changes anywhere in the work tree'),
    staged: z.array(z.string()),
    unstaged: z.array(z.string()),
    untracked: z.array(z.string()),
  })
  .meta({ id: 'RepositoryState' })
export type RepositoryState = z.infer<typeof RepositoryState>

export const FileChange = z
  .object({
    path: z.string(),
    action: z.enum(['create', 'update', 'unchanged']),
    bytes: z.number().int(),
    content: z.string().describe('The exact content a commit would write'),
    diff: z.string().describe('Unified diff against the branch head; empty when unchanged'),
  })
  .meta({ id: 'FileChange' })
export type FileChange = z.infer<typeof FileChange>

/** The workflow a commit replaces: one live automation per type (its files sit at the same paths). */
export const Replaced = z
  .object({ workflow_id: z.uuid(), commit_sha: z.string().nullable() })
  .nullable()
  .describe('The committed workflow of the same type whose files this commit replaces; it becomes superseded. null: none')

export const Preview = z
  .object({
    workflow_id: z.uuid(),
    dry_run: z.literal(true),
    repository: RepositoryState,
    changes: z.array(FileChange),
    commit_message: z.string(),
    can_commit: z.boolean(),
    replaces: Replaced,
    blockers: z.array(z.string()).describe('Why a real commit would be refused now; empty when it would go through'),
    messages: z.array(z.string()).describe('One line per file, e.g. "Would create: workflows/high_churn_workflow.json"'),
  })
  .meta({ id: 'Preview' })
export type Preview = z.infer<typeof Preview>

export const CommitRequest = z
  .object({
    workflow_id: z.uuid(),
    dry_run: z
      .boolean({ error: 'dry_run must be a boolean: use JSON false without quotes, or exactly false in a form' })
      .default(true)
      .describe('Must be a JSON boolean; only an explicit false makes a real commit. Form bodies: exactly "true" or "false".'),
    push: z.boolean().default(false).describe('Push the branch to GIT_REMOTE after committing (never forced); with GIT_REMOTE_IS_TRUTH every commit is pushed'),
  })
  .meta({
    examples: [
      { workflow_id: '3b241101-e2bb-4255-8caf-4136c566a962' },
      { workflow_id: '3b241101-e2bb-4255-8caf-4136c566a962', dry_run: false },
    ],
  })

export const CommitResult = z
  .object({
    workflow_id: z.uuid(),
    dry_run: z.literal(false),
    replaces: Replaced,
    commit: z.object({
      sha: z.string(),
      branch: z.string(),
      parent: z.string(),
      message: z.string(),
      files: z.array(z.string()),
    }),
    pushed: z.boolean(),
  })
  .meta({ id: 'CommitResult' })
export type CommitResult = z.infer<typeof CommitResult>

export const Unchanged = z
  .object({
    status: z.literal('unchanged'),
    workflow_id: z.uuid(),
    dry_run: z.literal(false),
    branch: z.string(),
    head: z.string(),
    detail: z.string(),
    pushed: z.boolean().optional().describe('With push: true, the branch was pushed (a commit whose push was refused earlier reaches the remote now)'),
  })
  .meta({ id: 'Unchanged' })
export type Unchanged = z.infer<typeof Unchanged>
