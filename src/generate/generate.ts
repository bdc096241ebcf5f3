import { createHash } from 'node:crypto'
import type { Opportunity } from '../contract/opportunity.js'
import type { GeneratedFile, PromptTemplate, Workflow } from '../contract/workflow.js'
import { buildExport, type ExportFormat } from '../exports/exports.js'
import type { PlatformMappings } from '../exports/mapping.js'
import type { LoadedPlaybook } from '../playbooks/schema.js'
import { artifactPaths } from './paths.js'
import { buildTestFile } from './test-file.js'
import { buildPromptTemplate, buildWorkflow } from './workflow.js'

export interface ArtifactFile extends GeneratedFile {
  content: string
}

export interface Artifacts {
  workflow: Workflow
  promptTemplate: PromptTemplate
  files: ArtifactFile[]
}

const toJsonFile = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

function describeFile(path: string, kind: ArtifactFile['kind'], content: string): ArtifactFile {
  const bytes = Buffer.byteLength(content, 'utf8')
  return { path, kind, bytes, sha256: createHash('sha256').update(content, 'utf8').digest('hex'), content }
}

/** Which platform exports are generated (and committed) beside the three files. */
export interface ExportChoice {
  formats: readonly ExportFormat[]
  mappings: PlatformMappings
}

/** PURE: the workflow, its prompt template and their two files — what a record needs, without the test and the exports. */
export function generateRecord(opportunity: Opportunity, playbook: LoadedPlaybook, id: string, now: Date): Artifacts {
  const workflow = buildWorkflow(opportunity, playbook, id, now)
  const promptTemplate = buildPromptTemplate(playbook)
  const paths = artifactPaths(playbook.issueType)
  return {
    workflow,
    promptTemplate,
    files: [describeFile(paths.workflow, 'workflow', toJsonFile(workflow)), describeFile(paths.prompt_templates, 'prompt_templates', toJsonFile(promptTemplate))],
  }
}

/** PURE: same opportunity, playbook, id and clock → the same files, byte for byte: the three, then the chosen exports. */
export function generate(opportunity: Opportunity, playbook: LoadedPlaybook, id: string, now: Date, exports?: ExportChoice): Artifacts {
  const { workflow, promptTemplate, files } = generateRecord(opportunity, playbook, id, now)
  const paths = artifactPaths(playbook.issueType)
  const exported = exports ? exports.formats.map((format) => buildExport(format, workflow, promptTemplate, exports.mappings)) : []
  return {
    workflow,
    promptTemplate,
    files: [
      ...files,
      describeFile(paths.test, 'test', buildTestFile(workflow, promptTemplate, paths, exported)),
      ...exported.map((e) => describeFile(e.path, e.format, e.content)),
    ],
  }
}
