import type { PromptTemplate, Workflow } from '../contract/workflow.js'
import { exportPath } from '../generate/paths.js'
import { toMake } from './make.js'
import type { Platform, PlatformMappings } from './mapping.js'
import { toN8n } from './n8n.js'
import type { SetupItem } from './setup.js'
import { toZapier } from './zapier.js'

export type ExportFormat = Platform

export const EXPORT_MEDIA_TYPES: Record<ExportFormat, string> = {
  n8n: 'application/json; charset=utf-8',
  make: 'application/json; charset=utf-8',
  zapier: 'text/markdown; charset=utf-8',
}

export interface ExportFile {
  format: ExportFormat
  path: string
  mediaType: string
  content: string
  setup: SetupItem[]
}

const toJsonFile = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`

/** PURE: one export of a workflow, as the file a platform imports (or, for Zapier, a recipe). */
export function buildExport(format: ExportFormat, workflow: Workflow, prompt: PromptTemplate, mappings: PlatformMappings): ExportFile {
  const path = exportPath(workflow.issue_type, format)
  const base = { format, path, mediaType: EXPORT_MEDIA_TYPES[format] }
  if (format === 'n8n') {
    const { file, setup } = toN8n(workflow, prompt, mappings.n8n)
    return { ...base, content: toJsonFile(file), setup }
  }
  if (format === 'make') {
    const { file, setup } = toMake(workflow, prompt, mappings.make)
    return { ...base, content: toJsonFile(file), setup }
  }
  const { file, setup } = toZapier(workflow, prompt, mappings.zapier)
  return { ...base, content: file, setup }
}
