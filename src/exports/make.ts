import type { PromptTemplate, Workflow } from '../contract/workflow.js'
import { OPPORTUNITY_FIELDS } from '../playbooks/data-flow.js'
import type { JsonValue, StepAction } from '../playbooks/schema.js'
import { configKeysCarried, type MakeMapping } from './mapping.js'
import { informationalItem, settingItems, setupMarkdown, type SetupItem } from './setup.js'
import { fillTemplate, listStepIndex, piecesOf, stepTitles, type Dialect, type Piece } from './template.js'

/** A Make scenario blueprint (Scenarios → Import Blueprint), in the subset Make's published blueprints use. */
export interface MakeModule {
  id: number
  module: string
  version: number
  parameters: Record<string, JsonValue>
  mapper: Record<string, JsonValue> | null
  metadata: { designer: { x: number; y: number } }
}
export interface MakeBlueprint {
  name: string
  description: string
  flow: MakeModule[]
  metadata: {
    version: 1
    scenario: { roundtrips: 1; maxErrors: 3; autoCommit: true; autoCommitTriggerLast: true; freshVariables: false }
    designer: { orphans: [] }
  }
}

const TRIGGER_ID = 1
const SETTINGS_ID = 2
const STEP_X = 300

/** IML: literal text with `{{module.path}}` references. */
function iml(pieces: Piece[]): string {
  return pieces.map((p) => ('expr' in p ? `{{${p.expr}}}` : p.text)).join('')
}

/**
 * A mapped value as it may stand inside a JSON string: Make inserts values verbatim and IML has
 * no JSON escape, so double quotes and backslashes become apostrophes and control characters
 * (line breaks) spaces — a value from the webhook can then neither break the body nor add keys.
 */
const jsonSafeIml = (expr: string) => `replace(replace(toString(${expr}); "/[\\u0022\\u005c]/g"; "'"); "/[\\u0000-\\u001f]/g"; " ")`
const jsonSafe = (expr: string) => `{{${jsonSafeIml(expr)}}}`

/**
 * A prompt value as data (src/generate/prompt-data.ts): a JSON string, safe as above, whose `<` and
 * `>` become ‹ and › — IML has no JSON escape to write \u003c with — so no value can write `</data>`.
 */
function dataString(pieces: Piece[]): string {
  const literal = (text: string) => JSON.stringify(text).slice(1, -1).replaceAll('<', '\\u003c').replaceAll('>', '\\u003e')
  return `"${pieces.map((p) => ('expr' in p ? `{{replace(replace(${jsonSafeIml(p.expr)}; "/</g"; "‹"); "/>/g"; "›")}}` : literal(p.text))).join('')}"`
}

/**
 * A JSON text for Make's "JSON string" body: each reference sits inside a JSON string (so a
 * missing value stays valid JSON), made safe by `jsonSafe`.
 */
function jsonText(value: JsonValue, dialect: Pick<Dialect, 'ref'>): string {
  if (typeof value === 'string') {
    const pieces = piecesOf(value, dialect)
    if (!pieces.some((p) => 'expr' in p)) return JSON.stringify(value)
    return `"${pieces.map((p) => ('expr' in p ? jsonSafe(p.expr) : JSON.stringify(p.text).slice(1, -1))).join('')}"`
  }
  if (Array.isArray(value)) return `[${value.map((v) => jsonText(v, dialect)).join(', ')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${jsonText(v, dialect)}`).join(', ')}}`
  }
  return JSON.stringify(value)
}

function mapStrings(value: JsonValue, dialect: Pick<Dialect, 'ref'>): JsonValue {
  if (typeof value === 'string') return iml(piecesOf(value, dialect))
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, dialect))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, dialect)]))
  return value
}

/**
 * PURE: the workflow as a Make blueprint: a custom webhook that takes the opportunity body,
 * a "Set multiple variables" module with every setting, the steps' modules wired with IML
 * references, and — after the per-item part — an aggregator and a webhook response reporting
 * the outcome. Nothing account-bound: no hook, connection or keychain; `setup` lists them.
 */
export function toMake(workflow: Workflow, prompt: PromptTemplate, mappings: Record<StepAction, MakeMapping>): { file: MakeBlueprint; setup: SetupItem[] } {
  const origins = new Map<string, string>()
  for (const field of OPPORTUNITY_FIELDS) origins.set(field, `${TRIGGER_ID}.${field}`)
  for (const name of Object.keys(workflow.settings ?? {})) origins.set(name, `${SETTINGS_ID}.${name}`)
  const at = (index: number) => ({ designer: { x: index * STEP_X, y: 0 } })

  const flow: MakeModule[] = [
    { id: TRIGGER_ID, module: 'gateway:CustomWebHook', version: 1, parameters: {}, mapper: {}, metadata: at(0) },
    {
      id: SETTINGS_ID,
      module: 'util:SetVariables',
      version: 1,
      parameters: {},
      mapper: { variables: Object.entries(workflow.settings ?? {}).map(([name, s]) => ({ name, value: s.value })), scope: 'roundtrip' },
      metadata: at(1),
    },
  ]
  const setup: SetupItem[] = [
    { kind: 'step', text: 'Module 1 (Webhooks → Custom webhook): add a webhook, copy its address, and send it one opportunity (the curl under "Testing a trigger" in docs/exports.md) so Make learns the fields' },
    ...settingItems(workflow, 'Module 2 (Set multiple variables)'),
  ]
  const titles = stepTitles(workflow.steps)
  const listAt = listStepIndex(workflow.steps)
  let feederId: number | undefined
  let firstItemRef: string | undefined
  let aiRef: string | undefined

  workflow.steps.forEach((step, index) => {
    const mapping = mappings[step.action]
    const title = titles[index] as string
    const firstId = flow.length + 1
    const dialect: Dialect = {
      ref: (field) => {
        const origin = origins.get(field)
        if (!origin) throw new Error(`step ${step.id} reads ${field}, which nothing before it produces`)
        return origin
      },
      nodeRef: (node, path) => `${firstId + node}.${path}`,
      string: iml,
      structured: (value) => mapStrings(value, dialect),
      body: (config) => jsonText(config, dialect),
      data: (pieces) => [{ text: dataString(pieces) }],
    }
    mapping.modules.forEach((template, n) => {
      const ctx = { dialect, step, title, workflowName: workflow.name, prompt }
      flow.push({
        id: firstId + n,
        module: template.module,
        version: template.version,
        parameters: fillTemplate(template.parameters, ctx) as Record<string, JsonValue>,
        mapper: template.mapper === null ? null : (fillTemplate(template.mapper, ctx) as Record<string, JsonValue>),
        metadata: at(flow.length),
      })
      if (template.connection) setup.push({ kind: 'credential', text: `Module ${firstId + n} (${title}): choose (or create) its ${template.connection} connection` })
    })
    const outputId = firstId + (mapping.output.node ?? mapping.modules.length - 1)
    for (const field of step.produces?.fields ?? []) origins.set(field, `${outputId}.${(mapping.output.path ?? '{field}').replaceAll('{field}', field)}`)
    if (index === listAt) {
      feederId = outputId
      firstItemRef = origins.get(step.produces?.fields[0] ?? '')
    }
    if (step.action === 'generate_ai_message' && step.produces?.fields[0]) aiRef = origins.get(step.produces.fields[0])
    for (const line of mapping.setup) setup.push({ kind: 'step', text: `Module ${firstId} (${title}): ${line}` })
    const carried = configKeysCarried('make', mapping, step.config)
    setup.push(...informationalItem(title, step, Object.keys(step.config).filter((key) => !carried.has(key))))
  })

  // One answer per run: after a per-item part, gather the items first.
  let processed = '1'
  if (feederId !== undefined) {
    const aggregatorId = flow.length + 1
    flow.push({
      id: aggregatorId,
      module: 'builtin:BasicAggregator',
      version: 1,
      parameters: { feeder: feederId },
      mapper: aiRef ? { message: `{{${aiRef}}}` } : { item: `{{${firstItemRef}}}` },
      metadata: at(flow.length),
    })
    processed = `{{length(${aggregatorId}.array)}}`
  }
  flow.push({
    id: flow.length + 1,
    module: 'gateway:WebhookRespond',
    version: 1,
    parameters: {},
    mapper: {
      status: '200',
      body: `{"workflow_id": ${JSON.stringify(workflow.workflow_id)}, "issue_type": ${JSON.stringify(workflow.issue_type)}, "processed": ${processed}}`,
      headers: [{ key: 'content-type', value: 'application/json' }],
    },
    metadata: at(flow.length),
  })

  return {
    file: {
      name: `${workflow.name} (${workflow.severity})`,
      description: `Generated by auto-feature-builder for workflow ${workflow.workflow_id}. Before you turn it on:\n${setupMarkdown(setup)}`,
      flow,
      metadata: {
        version: 1,
        scenario: { roundtrips: 1, maxErrors: 3, autoCommit: true, autoCommitTriggerLast: true, freshVariables: false },
        designer: { orphans: [] },
      },
    },
    setup,
  }
}
