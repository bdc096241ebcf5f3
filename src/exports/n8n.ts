import { createHash } from 'node:crypto'
import type { PromptTemplate, Workflow } from '../contract/workflow.js'
import { OPPORTUNITY_FIELDS } from '../playbooks/data-flow.js'
import type { JsonValue, StepAction } from '../playbooks/schema.js'
import { CHECK_OPPORTUNITY_JS, checkRulesFor } from './check-opportunity.js'
import { configKeysCarried, type N8nMapping } from './mapping.js'
import { informationalItem, settingItems, setupMarkdown, type SetupItem } from './setup.js'
import { fillTemplate, listStepIndex, piecesOf, stepTitles, type Dialect, type Piece, type WorkflowStep } from './template.js'
import { WEBHOOK_SECRET_HEADER } from './webhook.js'

/** The shape n8n imports (Workflows → Import from File) and `n8n import:workflow` reads. */
export interface N8nNode {
  id: string
  name: string
  type: string
  typeVersion: number
  position: [number, number]
  parameters: Record<string, JsonValue>
  webhookId?: string
  notes?: string
  /** the query passes an empty item on when it finds no rows, so the run can answer "processed: 0" */
  alwaysOutputData?: boolean
  /** a step after the query that reads nothing per row runs once, not once per row */
  executeOnce?: boolean
  /** a failure goes out of the node's second output (to its "Failed: …" answer) instead of ending the run unanswered */
  onError?: 'continueErrorOutput'
}
export interface N8nWorkflow {
  name: string
  nodes: N8nNode[]
  connections: Record<string, { main: { node: string; type: 'main'; index: number }[][] }>
  settings: { executionOrder: 'v1' }
  pinData: Record<string, never>
  meta: { templateCredsSetupCompleted: false }
}

export const N8N_TRIGGER = 'Opportunity'
export const N8N_SETTINGS = 'Settings'
export const N8N_REPORT = 'Report outcome'
export const N8N_CHECK = 'Check input'
export const N8N_INPUT_VALID = 'Input valid?'
export const N8N_REJECT = 'Reject input'
export const N8N_AT_MOST = 'At most max_items'
export const N8N_ANY_ROWS = 'Any rows?'
export const N8N_STOP = 'Stop after failure'
/** The node that answers 502 when a step (or the check) fails: one per step, named after it. */
export const n8nFailedNode = (step: string) => `Failed: ${step}`
/** The IF node after a credentialed node that tells a real run from n8n passing the input on. */
export const n8nRanNode = (node: string) => `${node} ran?`
export const N8N_NO_ROWS = 'Report no rows'
/** The credential type of the webhook's secret, as n8n names it in its credential picker. */
export const N8N_SECRET_CREDENTIAL_TYPE = 'httpHeaderAuth'
const N8N_SECRET_CREDENTIAL = 'Header Auth'
/** The Settings value that caps affected_items (more: 422) and the rows a call with none works on. */
export const MAX_ITEMS_SETTING = 'max_items'
export const DEFAULT_MAX_ITEMS = 500
const STEP_X = 260
/** Side branches (rejections) sit above the main line: n8n's v1 order runs the topmost branch first. */
const ABOVE = 100
const BELOW = 500

/**
 * Steps after the query that read no per-row field — and have only such steps after them — run
 * once, not once per row (a metric is tracked once per run, not 500 times).
 */
export function onceSteps(steps: Workflow['steps'], listAt: number): Set<number> {
  const once = new Set<number>()
  if (listAt < 0) return once
  const perRow = new Set<string>()
  steps.forEach((step, i) => {
    if (i >= listAt) for (const f of step.produces?.fields ?? []) perRow.add(f)
  })
  for (let i = steps.length - 1; i > listAt; i--) {
    if ((steps[i]?.reads ?? []).some((f) => perRow.has(f))) break
    once.add(i)
  }
  return once
}

/** Stable ids: the same workflow exports byte for byte the same file. */
function stableId(workflowId: string, name: string): string {
  const h = createHash('sha256').update(`${workflowId}\0${name}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** A JavaScript string literal that never holds `{{` or `}}`, which would end an n8n expression early. */
function jsString(text: string): string {
  return JSON.stringify(text).replaceAll('{', '\\u007b').replaceAll('}', '\\u007d')
}

/** n8n's expression language is JavaScript inside `{{ }}`. */
function jsOf(pieces: Piece[]): string {
  const only = pieces.length === 1 ? pieces[0] : undefined
  if (only) return 'expr' in only ? only.expr : jsString(only.text)
  return pieces.length === 0 ? '""' : `(${pieces.map((p) => ('expr' in p ? `String(${p.expr})` : jsString(p.text))).join(' + ')})`
}

function jsValue(value: JsonValue, dialect: Pick<Dialect, 'ref'>): string {
  if (typeof value === 'string') return jsOf(piecesOf(value, dialect))
  if (Array.isArray(value)) return `[ ${value.map((v) => jsValue(v, dialect)).join(', ')} ]`
  // spaces inside the braces: "}}" would close the expression
  if (value !== null && typeof value === 'object') {
    return `{ ${Object.entries(value).map(([k, v]) => `${jsString(k)}: ${jsValue(v, dialect)}`).join(', ')} }`
  }
  return JSON.stringify(value)
}

function expression(pieces: Piece[]): JsonValue {
  if (!pieces.some((p) => 'expr' in p)) return pieces.map((p) => ('text' in p ? p.text : '')).join('')
  return `=${pieces.map((p) => ('expr' in p ? `{{ ${p.expr} }}` : p.text)).join('')}`
}

interface FieldOrigin {
  node: string
  path: string
  perItem: boolean
}

function setType(value: JsonValue): 'string' | 'number' | 'boolean' | 'array' | 'object' {
  if (typeof value === 'number') return 'number'
  if (typeof value === 'boolean') return 'boolean'
  if (Array.isArray(value)) return 'array'
  if (value !== null && typeof value === 'object') return 'object'
  return 'string'
}

/** A copy of `value` with the value at JSON Pointer `pointer` replaced. */
function replacedAt(value: JsonValue, pointer: string, replacement: JsonValue): JsonValue {
  const [head, ...rest] = pointer.split('/').slice(1).map((key) => key.replaceAll('~1', '/').replaceAll('~0', '~'))
  if (head === undefined) return replacement
  const inner = rest.map((key) => `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')
  if (Array.isArray(value)) return value.map((item, i) => (String(i) === head ? replacedAt(item, inner, replacement) : item))
  if (value !== null && typeof value === 'object') return { ...value, [head]: replacedAt(value[head] ?? null, inner, replacement) }
  return value
}

/**
 * The step as this run must carry it out: each config value the generator filled from its own
 * detection (`placeholders`: baseline, cohort size, urgency…) becomes a read of the same value
 * computed from the detection the webhook received, so nothing from the generating detection is frozen in.
 */
function withRunValues(step: WorkflowStep, fieldOf: (placeholder: string) => string): WorkflowStep {
  let config: JsonValue = step.config
  for (const [pointer, placeholder] of Object.entries(step.placeholders ?? {})) config = replacedAt(config, pointer, `{{${fieldOf(placeholder)}}}`)
  return { ...step, config: config as WorkflowStep['config'] }
}

/** The Code node's JavaScript: the shared check (src/exports/check-opportunity.ts) applied to the webhook's body. */
function checkInputCode(workflow: Workflow): string {
  return [
    '// Generated by auto-feature-builder: checks the body before anything runs; later nodes read only what it returns.',
    CHECK_OPPORTUNITY_JS,
    '',
    `const rules = ${JSON.stringify(checkRulesFor(workflow.issue_type, workflow.workflow_id))}`,
    `const body = $(${JSON.stringify(N8N_TRIGGER)}).first().json.body`,
    `const maxItems = $(${JSON.stringify(N8N_SETTINGS)}).first().json.${MAX_ITEMS_SETTING}`,
    'return [{ json: checkOpportunity(body, { ...rules, maxItems, now: new Date().toISOString() }) }]',
  ].join('\n')
}

/** An IF node with one boolean condition (n8n's v2 IF format): output 0 when true, 1 when false. */
function ifNode(id: string, name: string, condition: string, position: [number, number], notes: string): N8nNode {
  return {
    id,
    name,
    type: 'n8n-nodes-base.if',
    typeVersion: 2.2,
    position,
    parameters: {
      conditions: {
        options: { caseSensitive: true, leftValue: '', typeValidation: 'strict', version: 2 },
        conditions: [{ id: `${id}-condition`, leftValue: `={{ ${condition} }}`, rightValue: '', operator: { type: 'boolean', operation: 'true', singleValue: true } }],
        combinator: 'and',
      },
      options: {},
    },
    notes,
  }
}

/** JavaScript that is true when PATH (dotted) holds a value in the current item. */
function hasPath(path: string): string {
  return `${JSON.stringify(path.split('.'))}.reduce((v, k) => (v === null || v === undefined ? v : v[k]), $json) !== undefined`
}

/** The error text of a failed item, whatever shape the node gave it; `fallback` when the item carries none (a guard sent it). */
function errorText(fallback: string): string {
  return `($json.error === undefined ? ${jsString(fallback)} : typeof $json.error === "string" ? $json.error : ($json.error.message || JSON.stringify($json.error)))`
}

function respondNode(id: string, name: string, body: string, position: [number, number], notes: string, responseCode?: JsonValue): N8nNode {
  return {
    id,
    name,
    type: 'n8n-nodes-base.respondToWebhook',
    typeVersion: 1.1,
    position,
    parameters: { respondWith: 'json', responseBody: `={{ JSON.stringify(${body}) }}`, options: responseCode === undefined ? {} : { responseCode } },
    notes,
  }
}

/**
 * PURE: the workflow as an n8n workflow: a Webhook trigger that takes the opportunity body,
 * a Settings node with every value to set, one node (or a few) per step wired by the
 * mappings, and a Respond to Webhook node that reports the outcome. No credentials: the
 * sticky note and `setup` list which to choose.
 */
export function toN8n(workflow: Workflow, prompt: PromptTemplate, mappings: Record<StepAction, N8nMapping>): { file: N8nWorkflow; setup: SetupItem[] } {
  const id = (name: string) => stableId(workflow.workflow_id, name)
  const origins = new Map<string, FieldOrigin>()
  // later nodes read the checked, normalised opportunity, never the raw body (a comma list is an array there)
  for (const field of OPPORTUNITY_FIELDS) origins.set(field, { node: N8N_CHECK, path: `opportunity.${field}`, perItem: false })
  const checked = (field: string) => access({ node: N8N_CHECK, path: `opportunity.${field}`, perItem: false })
  // "$metric_value" & co. as fields of this run, under names no playbook field takes
  const runFields = new Map<string, string>()
  const runField = (placeholder: string) => {
    let name = runFields.get(placeholder)
    if (name) return name
    for (name = `run_${placeholder.slice(1)}`; origins.has(name); name += '_');
    origins.set(name, { node: N8N_CHECK, path: `placeholders.${placeholder.slice(1)}`, perItem: false })
    runFields.set(placeholder, name)
    return name
  }
  for (const name of Object.keys(workflow.settings ?? {})) origins.set(name, { node: N8N_SETTINGS, path: name, perItem: false })
  const access = (o: FieldOrigin) => `$(${JSON.stringify(o.node)}).${o.perItem ? 'item' : 'first()'}.json.${o.path}`

  const nodes: N8nNode[] = [
    {
      id: id(N8N_TRIGGER),
      name: N8N_TRIGGER,
      type: 'n8n-nodes-base.webhook',
      typeVersion: 2.1,
      position: [0, 300],
      webhookId: id('webhook'),
      // headerAuth: without the secret n8n answers 403 and runs nothing (an open webhook lets anyone send e-mails and credits)
      parameters: { httpMethod: 'POST', path: `auto-feature-builder/${workflow.issue_type}`, authentication: 'headerAuth', responseMode: 'responseNode', options: {} },
      notes: `Receives the opportunity: the same JSON body as POST /issues (${workflow.trigger}), with the shared secret in the ${WEBHOOK_SECRET_HEADER} header.`,
    },
    {
      id: id(N8N_SETTINGS),
      name: N8N_SETTINGS,
      type: 'n8n-nodes-base.set',
      typeVersion: 3.4,
      position: [STEP_X, 300],
      parameters: {
        mode: 'manual',
        assignments: {
          assignments: [
            ...Object.entries(workflow.settings ?? {}).map(([name, setting]) => ({
              id: id(`setting:${name}`),
              name,
              value: setting.value,
              type: setType(setting.value),
            })),
            { id: id(`setting:${MAX_ITEMS_SETTING}`), name: MAX_ITEMS_SETTING, value: DEFAULT_MAX_ITEMS, type: 'number' },
          ],
        },
        includeOtherFields: false,
        options: {},
      },
      notes: 'Every value to set for your account. Later nodes read them from here.',
    },
    {
      id: id(N8N_CHECK),
      name: N8N_CHECK,
      type: 'n8n-nodes-base.code',
      typeVersion: 2,
      position: [STEP_X * 2, 300],
      parameters: { jsCode: checkInputCode(workflow) },
      notes: 'Checks the body as POST /issues does and normalises it (affected_items always an array); later nodes read only this.',
      onError: 'continueErrorOutput',
    },
    ifNode(id(N8N_INPUT_VALID), N8N_INPUT_VALID, '$json.valid', [STEP_X * 3, 300], `True: the body is sound. False: "${N8N_REJECT}" answers 400 (422 over max_items) naming the field; nothing runs.`),
  ]
  const sideNodes: N8nNode[] = [
    respondNode(id(N8N_REJECT), N8N_REJECT, '{ "error": $json.error, "field": $json.field }', [STEP_X * 4, ABOVE], 'Answers a body that fails the check: 400 (422 over max_items) with {error, field}.', '={{ $json.status }}'),
  ]
  const branches: [from: string, output: number, to: string][] = [[N8N_INPUT_VALID, 1, N8N_REJECT]]
  // every failure is answered (n8n answers 200 with an empty body when a run stops before any Respond node),
  // then the run stops, so nothing after the failing step runs, not even for the items that did not fail
  const failed = (step: string, x: number, fallback: string) => {
    const name = n8nFailedNode(step)
    const body = `{ "failed_step": ${jsString(step)}, "error": ${errorText(fallback)} }`
    sideNodes.push(respondNode(id(name), name, body, [x, ABOVE], `Answers 502 naming the step "${step}" when it fails.`, 502))
    branches.push([name, 0, N8N_STOP])
    return name
  }
  branches.push([N8N_CHECK, 1, failed(N8N_CHECK, STEP_X * 2, 'the check failed')])
  const setup: SetupItem[] = [
    {
      kind: 'credential',
      text: `Node "${N8N_TRIGGER}": create its ${N8N_SECRET_CREDENTIAL} credential with Name \`${WEBHOOK_SECRET_HEADER}\` and a long random Value; callers send that value in the ${WEBHOOK_SECRET_HEADER} header (without it n8n answers 403 and runs nothing)`,
    },
    ...settingItems(workflow, `Node "${N8N_SETTINGS}"`),
    {
      kind: 'setting',
      text: `Node "${N8N_SETTINGS}": set \`${MAX_ITEMS_SETTING}\` — the most affected_items one call may name (more: 422); a call naming none works on the playbook's whole cohort as its query selects it, at most this many rows. Generated value: \`${DEFAULT_MAX_ITEMS}\``,
    },
  ]
  const titles = stepTitles(workflow.steps)
  const listAt = listStepIndex(workflow.steps)
  const once = onceSteps(workflow.steps, listAt)
  let aiOrigin: FieldOrigin | undefined
  let listNode: string | undefined

  workflow.steps.forEach((step, index) => {
    const mapping = mappings[step.action]
    const title = titles[index] as string
    const names = mapping.nodes.map((node) => `${title}${node.suffix}`)
    const perItem = listAt >= 0 && index >= listAt
    const dialect: Dialect = {
      ref: (field) => {
        const origin = origins.get(field)
        if (!origin) throw new Error(`step ${step.id} reads ${field}, which nothing before it produces`)
        return access(origin)
      },
      nodeRef: (node, path) => access({ node: names[node] as string, path, perItem }),
      string: expression,
      structured: (value) => `={{ ${jsValue(value, dialect)} }}`,
      body: (config) => `={{ JSON.stringify(${jsValue(config, dialect)}) }}`,
      // JSON with < and > escaped (src/generate/prompt-data.ts): no value can write </data>
      data: (pieces) => [{ expr: `JSON.stringify(${jsOf(pieces)} ?? null).replaceAll("<", "\\\\u003c").replaceAll(">", "\\\\u003e")` }],
    }
    const runStep = withRunValues(step, runField)
    const outputAt = mapping.output.node ?? names.length - 1
    const outputPath = (field: string) => (mapping.output.path ?? '{field}').replaceAll('{field}', field)
    const credential = mapping.nodes.find((template) => template.credential)?.credential
    const failedStep = failed(title, STEP_X * nodes.length, credential ? `it produced nothing: choose its ${credential.label} credential` : 'it failed')
    mapping.nodes.forEach((template, n) => {
      const name = names[n] as string
      nodes.push({
        id: id(name),
        name,
        type: template.type,
        typeVersion: template.typeVersion,
        position: [STEP_X * nodes.length, 300],
        parameters: fillTemplate(template.parameters, { dialect, step: runStep, title, workflowName: workflow.name, prompt }) as Record<string, JsonValue>,
        ...(n === 0 && { notes: `Step ${step.id}: ${step.description}` }),
        ...(index === listAt && n === mapping.nodes.length - 1 && { alwaysOutputData: true }),
        ...(once.has(index) && { executeOnce: true }),
        onError: 'continueErrorOutput',
      })
      branches.push([name, 1, failedStep])
      if (!template.credential) return
      setup.push({ kind: 'credential', text: `Node "${name}": choose (or create) its ${template.credential.label} credential` })
      // without its credential the node passes its input on and n8n records a success: its output must show it ran
      const evidence = [...template.evidence, ...(n === outputAt ? (step.produces?.fields ?? []).map(outputPath) : [])]
      if (evidence.length === 0) return
      const ran = evidence.map(hasPath).join(' && ')
      const guard = n8nRanNode(name)
      // the query's empty item (no rows, alwaysOutputData) is a real run too
      const condition = index === listAt ? `Object.keys($json).length === 0 || (${ran})` : ran
      nodes.push(ifNode(id(guard), guard, condition, [STEP_X * nodes.length, 300], `True: "${name}" really ran. False: it passed its input on (no credential?); "${failedStep}" answers 502.`))
      branches.push([guard, 1, failedStep])
    })
    const outputNode = names[outputAt] as string
    for (const field of step.produces?.fields ?? []) {
      origins.set(field, { node: outputNode, path: outputPath(field), perItem })
    }
    if (step.action === 'generate_ai_message' && step.produces?.fields[0]) aiOrigin = origins.get(step.produces.fields[0])
    if (index === listAt) {
      // no rows: the query passes one empty item on (alwaysOutputData); "Any rows?" answers "processed: 0".
      // A call naming no items reaches the whole cohort: keep at most max_items of it, paired to the rows they came from.
      listNode = N8N_AT_MOST
      nodes.push({
        id: id(N8N_AT_MOST),
        name: N8N_AT_MOST,
        type: 'n8n-nodes-base.code',
        typeVersion: 2,
        position: [STEP_X * nodes.length, 300],
        parameters: {
          jsCode: `const max = $(${JSON.stringify(N8N_SETTINGS)}).first().json.${MAX_ITEMS_SETTING}\nreturn $input.all().slice(0, max).map((item, i) => ({ json: item.json, pairedItem: { item: i } }))`,
        },
        notes: `Keeps at most ${MAX_ITEMS_SETTING} (Settings) of the rows.`,
      })
      nodes.push(ifNode(id(N8N_ANY_ROWS), N8N_ANY_ROWS, 'Object.keys($json).length > 0', [STEP_X * nodes.length, 300], 'True: the query found rows, the next steps run once per row. False: nothing to do.'))
      branches.push([N8N_ANY_ROWS, 1, N8N_NO_ROWS])
      sideNodes.push(
        respondNode(
          id(N8N_NO_ROWS),
          N8N_NO_ROWS,
          `{ "workflow_id": ${checked('workflow_id')}, "issue_type": ${checked('issue_type')}, "metric_value": ${checked('metric_value')}, "processed": 0, "messages": [] }`,
          [STEP_X * nodes.length, BELOW],
          'The query found no rows: nothing to do.',
        ),
      )
    }
    for (const line of mapping.setup) setup.push({ kind: 'step', text: `Node "${names[0]}": ${line}` })
    const carried = configKeysCarried('n8n', mapping, step.config)
    setup.push(...informationalItem(title, step, Object.keys(step.config).filter((key) => !carried.has(key))))
  })

  const report = [
    `"workflow_id": ${checked('workflow_id')}`,
    `"issue_type": ${checked('issue_type')}`,
    `"metric_value": ${checked('metric_value')}`,
    `"processed": ${listNode ? `$(${JSON.stringify(listNode)}).all().length` : '1'}`,
    ...(aiOrigin ? [`"messages": $(${JSON.stringify(aiOrigin.node)}).all().map(item => item.json.${aiOrigin.path})`] : []),
  ]
  nodes.push(respondNode(id(N8N_REPORT), N8N_REPORT, `{ ${report.join(', ')} }`, [STEP_X * nodes.length, 300], 'Answers the webhook call with what the run did.'))

  const connections: N8nWorkflow['connections'] = {}
  const connect = (from: string, output: number, to: string) => {
    const outputs = (connections[from] ??= { main: [] }).main
    while (outputs.length <= output) outputs.push([])
    outputs[output]?.push({ node: to, type: 'main', index: 0 })
  }
  for (let i = 0; i + 1 < nodes.length; i++) connect((nodes[i] as N8nNode).name, 0, (nodes[i + 1] as N8nNode).name)
  for (const [from, output, to] of branches) connect(from, output, to)
  nodes.push(...sideNodes, {
    id: id(N8N_STOP),
    name: N8N_STOP,
    type: 'n8n-nodes-base.stopAndError',
    typeVersion: 1,
    position: [STEP_X * nodes.length, ABOVE - 200],
    parameters: { errorType: 'errorMessage', errorMessage: 'A step failed: the webhook was answered 502 naming it (see the failed node)' },
    notes: 'Ends the run after a failure was answered, so no later step runs for the items that did not fail.',
  })
  nodes.push({
    id: id('setup-note'),
    name: 'Setup',
    type: 'n8n-nodes-base.stickyNote',
    typeVersion: 1,
    position: [0, -40],
    parameters: {
      content: `## ${workflow.name}\nGenerated by auto-feature-builder for workflow ${workflow.workflow_id}.\n\n### Before you activate\n${setupMarkdown(setup)}`,
      height: 320,
      width: Math.max(600, STEP_X * (nodes.length - 1)),
      color: 5,
    },
  })
  return {
    file: {
      name: `${workflow.name} (${workflow.severity})`,
      nodes,
      connections,
      settings: { executionOrder: 'v1' },
      pinData: {},
      meta: { templateCredsSetupCompleted: false },
    },
    setup,
  }
}
