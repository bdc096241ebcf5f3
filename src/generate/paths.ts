import { ISSUE_TYPE_PATTERN } from '../playbooks/load.js'

/**
 * Where each generated file lives in the target repository (the seed's layout). The issue type
 * is checked against the folder-name pattern here too, so no caller can build a path from
 * anything else (safety invariant 5).
 */
export function artifactPaths(issueType: string): Record<'workflow' | 'prompt_templates' | 'test', string> {
  if (!ISSUE_TYPE_PATTERN.test(issueType)) throw new Error(`refusing to build paths from issue type ${JSON.stringify(issueType)}`)
  return {
    workflow: `workflows/${issueType}_workflow.json`,
    prompt_templates: `workflows/${issueType}_prompt_templates.json`,
    test: `tests/${issueType}_workflow.test.ts`,
  }
}

const EXPORT_FILE_NAMES = { n8n: 'n8n.json', make: 'make_blueprint.json', zapier: 'zapier.md' } as const

/** Where an export is committed: beside the workflow, e.g. workflows/high_churn_make_blueprint.json. */
export function exportPath(issueType: string, format: keyof typeof EXPORT_FILE_NAMES): string {
  if (!ISSUE_TYPE_PATTERN.test(issueType)) throw new Error(`refusing to build paths from issue type ${JSON.stringify(issueType)}`)
  return `workflows/${issueType}_${EXPORT_FILE_NAMES[format]}`
}
