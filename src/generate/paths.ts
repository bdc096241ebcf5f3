import type { z } from 'zod'
import type { FileKind } from '../contract/workflow.js'
import { ISSUE_TYPE_PATTERN } from '../playbooks/load.js'

/**
 * Where each generated file lives in the target repository (the seed's layout). The issue type
 * is checked against the folder-name pattern here too, so no caller can build a path from
 * anything else (safety invariant 5).
 */
export function artifactPaths(issueType: string): Record<z.infer<typeof FileKind>, string> {
  if (!ISSUE_TYPE_PATTERN.test(issueType)) throw new Error(`refusing to build paths from issue type ${JSON.stringify(issueType)}`)
  return {
    workflow: `workflows/${issueType}_workflow.json`,
    prompt_templates: `workflows/${issueType}_prompt_templates.json`,
    test: `tests/${issueType}_workflow.test.ts`,
  }
}
