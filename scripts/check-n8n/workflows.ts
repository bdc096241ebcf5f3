import { randomUUID } from 'node:crypto'
import { opportunityInput } from '../../src/contract/opportunity.js'
import type { PromptTemplate, Workflow } from '../../src/contract/workflow.js'
import type { PlatformMappings } from '../../src/exports/mapping.js'
import { N8N_SECRET_CREDENTIAL_TYPE, N8N_SETTINGS, N8N_TRIGGER, type N8nNode, type N8nWorkflow } from '../../src/exports/n8n.js'
import { generate } from '../../src/generate/generate.js'
import type { JsonValue, LoadedPlaybook } from '../../src/playbooks/schema.js'
import { normalizeOpportunity } from '../../src/workflows/service.js'
import { credentialTypesByNodeType, type CredentialRef } from './credentials.js'
import type { Fixture } from './fixtures.js'

/**
 * One issue type's case: the opportunity, the workflow our real generator builds from it, the
 * n8n file our real exporter makes of that — and the copy the check imports, edited exactly as
 * a user would after import (URLs in Settings, a credential per node), never the generator's
 * output itself.
 */

/** Where each URL setting points on the HTTP stub (see its answer table). */
const URL_SETTINGS: Record<string, string> = {
  api_base_url: '/api',
  sms_api_url: '/sms',
  ops_webhook_url: '/ops-webhook',
  deploy_api_url: '/deploy/rollbacks',
}

export interface CheckCase {
  issueType: string
  fixture: Fixture
  /** the JSON posted to the webhook: the same body POST /issues takes */
  body: Record<string, JsonValue>
  workflow: Workflow
  prompt: PromptTemplate
  /** every setting's value as the imported copy has it (URLs aimed at the stub) */
  settings: Record<string, JsonValue>
  /** the export as generated, untouched */
  exported: N8nWorkflow
  /** the copy to import */
  imported: N8nWorkflow & { id: string; active: boolean }
  /** the same copy with no credential on any step node (the webhook keeps its secret), on its own path: "nothing configured" */
  unconfigured: N8nWorkflow & { id: string; active: boolean }
}

/** The webhook path the export's trigger node listens on (the exporter's choice, not the check's). */
export function webhookPath(c: CheckCase): string {
  const path = c.imported.nodes.find((n) => n.name === N8N_TRIGGER)?.parameters['path']
  if (typeof path !== 'string') throw new Error(`the export has no "${N8N_TRIGGER}" webhook node with a path`)
  return path
}

function settingsNode(file: N8nWorkflow): N8nNode {
  const node = file.nodes.find((n) => n.name === N8N_SETTINGS)
  if (!node) throw new Error(`the export has no "${N8N_SETTINGS}" node`)
  return node
}

/** The user's edits: URLs to the stub (one path prefix per issue type, so calls are attributable), credentials chosen. */
function editCopy(c: { issueType: string; exported: N8nWorkflow }, stubUrl: string, credentials: Map<string, CredentialRef>, mappings: PlatformMappings): { file: N8nWorkflow; settings: Record<string, JsonValue> } {
  const file = structuredClone(c.exported)
  const settings: Record<string, JsonValue> = {}
  const assignments = (settingsNode(file).parameters['assignments'] as { assignments: { name: string; value: JsonValue }[] }).assignments
  for (const assignment of assignments) {
    const suffix = URL_SETTINGS[assignment.name]
    if (suffix) assignment.value = `${stubUrl}/${c.issueType}${suffix}`
    else if (typeof assignment.value === 'string' && /^https?:\/\//.test(assignment.value)) {
      // a new URL setting would otherwise send the check's traffic to a real host
      throw new Error(`setting ${assignment.name} holds a URL (${assignment.value}); add it to URL_SETTINGS in scripts/check-n8n/workflows.ts`)
    }
    settings[assignment.name] = assignment.value
  }
  const needed = credentialTypesByNodeType(mappings.n8n)
  for (const node of file.nodes) {
    const type = node.name === N8N_TRIGGER ? N8N_SECRET_CREDENTIAL_TYPE : needed.get(node.type)
    if (!type) continue
    const ref = credentials.get(type)
    if (!ref) throw new Error(`node "${node.name}" (${node.type}) needs a ${type} credential, which the check has no test double for`)
    Object.assign(node, { credentials: { [type]: ref } })
  }
  return { file, settings }
}

/** The edited copy as a user who set the URLs but chose no step credential has it, on a path and webhook id of its own. */
function unconfiguredCopy(file: N8nWorkflow): N8nWorkflow {
  const copy = structuredClone(file)
  copy.name = `${copy.name} (no credentials)`
  for (const node of copy.nodes) {
    if (node.name !== N8N_TRIGGER) {
      delete (node as N8nNode & { credentials?: unknown }).credentials
      continue
    }
    node.parameters['path'] = `${String(node.parameters['path'])}-unconfigured`
    node.webhookId = randomUUID()
  }
  return copy
}

export function buildCase(options: {
  playbook: LoadedPlaybook
  fixture: Fixture
  mappings: PlatformMappings
  stubUrl: string
  credentials: Map<string, CredentialRef>
  n8nId: string
  now: Date
}): CheckCase {
  const { playbook, fixture, mappings, now } = options
  const issueType = playbook.issueType
  const body = {
    issue_type: issueType,
    severity: 'high',
    description: fixture.description,
    metric_value: fixture.metricValue,
    affected_items: fixture.affectedItems,
    timestamp: now.toISOString(),
    source: 'check-n8n',
  }
  // parsed as POST /issues parses it: the body is one our API accepts, and the workflow is the one it would generate
  const input = opportunityInput([issueType]).parse(body)
  // the n8n file exactly as the service generates and commits it
  const { workflow, promptTemplate, files } = generate(normalizeOpportunity(input, now), playbook, randomUUID(), now, { formats: ['n8n'], mappings })
  const n8nFile = files.find((f) => f.kind === 'n8n')
  if (!n8nFile) throw new Error('generate() made no n8n file')
  const exported = JSON.parse(n8nFile.content) as N8nWorkflow
  const { file, settings } = editCopy({ issueType, exported }, options.stubUrl, options.credentials, mappings)
  return {
    issueType,
    fixture,
    body,
    workflow,
    prompt: promptTemplate,
    settings,
    exported,
    imported: { ...file, id: options.n8nId, active: false },
    unconfigured: { ...unconfiguredCopy(file), id: `${options.n8nId}U`, active: false },
  }
}
