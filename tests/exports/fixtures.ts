import path from 'node:path'
import { projectRoot } from '../../src/config.js'
import { SEVERITIES, type Opportunity, type Severity } from '../../src/contract/opportunity.js'
import { buildExport, type ExportFile, type ExportFormat } from '../../src/exports/exports.js'
import { loadPlatformMappings } from '../../src/exports/mapping.js'
import { generate } from '../../src/generate/generate.js'
import { loadPlaybooks } from '../../src/playbooks/load.js'

const TEMPLATES = path.join(projectRoot(), 'templates')
export const playbooks = loadPlaybooks(TEMPLATES)
export const mappings = loadPlatformMappings(TEMPLATES, playbooks)
const NOW = new Date('2026-01-19T10:00:00.000Z')

/** Every shipped type at every severity: the matrix each export must pass. */
export function* everyTypeAndSeverity(): Generator<{ issueType: string; severity: Severity }> {
  for (const issueType of playbooks.keys()) for (const severity of SEVERITIES) yield { issueType, severity }
}

export function exportOf(format: ExportFormat, issueType: string, severity: Severity = 'high', overrides: Partial<Opportunity> = {}): ExportFile {
  const playbook = playbooks.get(issueType)
  if (!playbook) throw new Error(`no playbook ${issueType}`)
  const opportunity: Opportunity = {
    issue_type: issueType,
    severity,
    description: `${severity} ${issueType}`,
    metric_value: 0.5,
    affected_items: ['item_1', 'item_2'],
    timestamp: NOW.toISOString(),
    feature_suggestion: null,
    source: 'test',
    ...overrides,
  }
  const { workflow, promptTemplate } = generate(opportunity, playbook, '00000000-0000-4000-8000-000000000042', NOW)
  return buildExport(format, workflow, promptTemplate, mappings)
}
