import { cpSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/config.js'
import { loadPlaybooks, PlaybookError } from '../src/playbooks/load.js'
import { STEP_ACTIONS } from '../src/playbooks/schema.js'
import { tempDir, testApp } from './helpers/app.js'

const TEMPLATES = path.join(projectRoot(), 'templates')

/** The seed playbooks' table (docs/playbooks.md): the prompt variables each type must declare, exactly. */
const SEED_VARIABLES: Record<string, string[]> = {
  high_churn: ['customer_name', 'product_name', 'churn_score', 'discount_offer'],
  abandoned_carts: ['product_name', 'original_price', 'recovery_price', 'discount', 'urgency'],
  revenue_drop: ['current_product', 'upsell_product', 'value_prop'],
  payment_failures: ['amount', 'reason', 'attempt_number'],
  low_conversion: ['product', 'pain_point', 'solution', 'audience'],
  error_spike: ['error_type', 'affected_users', 'credit_amount'],
}
const SEED_NAMES: Record<string, string> = {
  high_churn: 'Auto-Retention: High Churn',
  abandoned_carts: 'Auto-Recovery: Abandoned Cart',
  revenue_drop: 'Auto-Upsell: Revenue Drop',
  payment_failures: 'Auto-Retry: Payment Failures',
  low_conversion: 'Auto-Optimize: Low Conversion',
  error_spike: 'Auto-Mitigate: Error Spike',
}

const dirs: string[] = []
function templatesCopy(): string {
  const dir = tempDir('afb-templates-')
  dirs.push(dir)
  cpSync(TEMPLATES, dir, { recursive: true })
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('the shipped playbooks', () => {
  const playbooks = loadPlaybooks(TEMPLATES)

  // "at least": a seventh folder must not need this test changed
  it('when loaded, then the six seed types are there with their names and triggers', () => {
    expect([...playbooks.keys()]).toEqual(expect.arrayContaining(Object.keys(SEED_VARIABLES)))
    for (const type of Object.keys(SEED_NAMES)) {
      expect(playbooks.get(type)?.name).toBe(SEED_NAMES[type])
      expect(playbooks.get(type)?.trigger).toBe(`${type}_detected`)
    }
  })

  it('when loaded, then each of the six declares exactly the prompt variables the seed lists', () => {
    for (const [type, variables] of Object.entries(SEED_VARIABLES)) {
      expect(Object.keys(playbooks.get(type)?.prompt.variables ?? {}).sort()).toEqual([...variables].sort())
    }
  })

  it('when loaded, then every playbook has 4–5 steps from the shared vocabulary', () => {
    for (const playbook of playbooks.values()) {
      expect(playbook.steps.length).toBeGreaterThanOrEqual(4)
      expect(playbook.steps.length).toBeLessThanOrEqual(5)
      for (const step of playbook.steps) expect(STEP_ACTIONS).toContain(step.action)
    }
  })

  it('when loaded, then the thresholds and targets are the seed’s', () => {
    const detection = (t: string) => playbooks.get(t)?.detection
    expect(detection('high_churn')).toMatchObject({ operator: '>', threshold: 0.05 })
    expect(detection('abandoned_carts')).toMatchObject({ operator: '>', threshold: 0.2 })
    expect(detection('revenue_drop')).toMatchObject({ metric: 'revenue_change', operator: '<', threshold: -0.15 })
    expect(detection('payment_failures')).toMatchObject({ operator: '<', threshold: 0.9 })
    expect(detection('low_conversion')).toMatchObject({ operator: '<', threshold: 0.03 })
    expect(detection('error_spike')).toMatchObject({ operator: '>', threshold: 0.01 })
    expect(playbooks.get('high_churn')?.success_metrics).toEqual({ retention_lift_target: 0.25 })
    expect(playbooks.get('abandoned_carts')?.success_metrics).toEqual({ recovery_rate_target: 0.15, email_open_rate_target: 0.4 })
    expect(playbooks.get('payment_failures')?.success_metrics).toEqual({ recovered_payments_lift_target: 0.35 })
    expect(playbooks.get('low_conversion')?.success_metrics).toEqual({ conversion_lift_target: 0.15 })
  })
})

describe('a broken template', () => {
  it('when a playbook has no steps, then loading fails naming the file and the field', () => {
    const dir = templatesCopy()
    const file = path.join(dir, 'high_churn', 'playbook.json')
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), steps: [] }))
    expect(() => loadPlaybooks(dir)).toThrow(PlaybookError)
    expect(() => loadPlaybooks(dir)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: steps`))
  })

  it('when a prompt uses a variable the playbook does not declare, then loading fails naming it', () => {
    const dir = templatesCopy()
    const file = path.join(dir, 'revenue_drop', 'prompt.txt')
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nAlso mention {{coupon_code}}.\n`)
    expect(() => loadPlaybooks(dir)).toThrow(/revenue_drop\/prompt\.txt: uses undeclared variables coupon_code/)
  })

  it('when a playbook is not JSON, then loading fails naming the file', () => {
    const dir = templatesCopy()
    writeFileSync(path.join(dir, 'error_spike', 'playbook.json'), '{ "name": ')
    expect(() => loadPlaybooks(dir)).toThrow(/error_spike\/playbook\.json: /)
  })

  it('when a folder name could not be a safe file name, then loading refuses it', () => {
    const dir = templatesCopy()
    cpSync(path.join(dir, 'high_churn'), path.join(dir, 'High-Churn'), { recursive: true })
    expect(() => loadPlaybooks(dir)).toThrow(/High-Churn: folder name must match/)
  })
})

interface TestPlaybook {
  settings: Record<string, unknown>
  steps: { action: string; description: string; config: Record<string, unknown>; produces?: unknown }[]
  [key: string]: unknown
}

/** A seventh playbook with a complete data flow: what a new type needs, and all it needs. */
const REFUND_SPIKE: TestPlaybook = {
  name: 'Auto-Investigate: Refund Spike',
  trigger: 'refund_spike_detected',
  detection: { metric: 'refund_rate', operator: '>', threshold: 0.04, description: 'refund rate > 4%' },
  approach: 'investigate and reassure',
  settings: {
    orders_table: { description: 'Table of orders', default: 'orders' },
    api_base_url: { description: 'Your service', default: 'https://api.company.example' },
    openai_model: { description: 'Model', default: 'gpt-4o-mini' },
  },
  steps: [
    {
      action: 'query_database',
      description: 'Find refunded orders',
      config: { endpoint: '{{api_base_url}}/query', sql: 'SELECT customer_name, refund_amount FROM {{orders_table}} WHERE id = ANY($1::text[])', parameters: ['{{affected_items}}'] },
      produces: { list: true, fields: ['customer_name', 'refund_amount'] },
    },
    { action: 'segment_customers', description: 'Group by reason', config: { endpoint: '{{api_base_url}}/segments', by: 'reason', urgency: '$urgency' }, produces: { fields: ['segment'] } },
    {
      action: 'generate_ai_message',
      description: 'Draft a note',
      config: { model: '{{openai_model}}', variables: { customer_name: '{{customer_name}}', refund_amount: '{{refund_amount}}' } },
      produces: { fields: ['message'] },
    },
    { action: 'track_metric', description: 'Watch refunds', config: { endpoint: '{{api_base_url}}/metrics', baseline: '$metric_value', segment: '{{segment}}' } },
  ],
  success_metrics: { refund_rate_reduction_target: 0.3 },
  prompt: { name: 'refund_note_template', variables: { customer_name: 'string', refund_amount: 'float' } },
}

function addRefundSpike(dir: string, playbook: object = REFUND_SPIKE): void {
  mkdirSync(path.join(dir, 'refund_spike'))
  writeFileSync(path.join(dir, 'refund_spike', 'playbook.json'), JSON.stringify(playbook))
  writeFileSync(path.join(dir, 'refund_spike', 'prompt.txt'), 'Write to {{customer_name}} about their refund of {{refund_amount}}.\n')
}

describe('a seventh type', () => {
  it('when a folder is added and nothing else, then the service accepts, documents, generates and exports it', async () => {
    const dir = templatesCopy()
    addRefundSpike(dir)
    const t = await testApp({ TEMPLATES_DIR: dir })
    try {
      const created = await t.app.inject({
        method: 'POST',
        url: '/issues',
        payload: { issue_type: 'refund_spike', severity: 'critical', description: 'refunds doubled', metric_value: 0.09, affected_items: ['o1'] },
      })
      expect(created.statusCode).toBe(201)
      const body = created.json()
      expect(body.workflow.name).toBe('Auto-Investigate: Refund Spike')
      expect(body.workflow.steps.map((s: { reads: string[] }) => s.reads)).toEqual([
        ['api_base_url', 'orders_table', 'affected_items'],
        ['api_base_url'],
        ['openai_model', 'customer_name', 'refund_amount'],
        ['api_base_url', 'segment'],
      ])
      expect(body.workflow.steps[1].config).toMatchObject({ by: 'reason', urgency: 'immediate' })
      expect(body.workflow.steps[3].config).toMatchObject({ baseline: 0.09 })
      expect(body.files.map((f: { path: string }) => f.path)).toEqual([
        'workflows/refund_spike_workflow.json',
        'workflows/refund_spike_prompt_templates.json',
        'tests/refund_spike_workflow.test.ts',
        'workflows/refund_spike_n8n.json',
        'workflows/refund_spike_make_blueprint.json',
      ])
      const n8n = await t.app.inject(`/workflows/${body.workflow_id}/exports/n8n`)
      expect(n8n.json().nodes.map((n: { name: string }) => n.name)).toEqual([
        'Opportunity', 'Settings', 'Check input', 'Input valid?', 'Query database', 'Query database ran?', 'At most max_items', 'Any rows?', 'Segment customers', 'Generate AI message', 'Generate AI message ran?', 'Track metric', 'Report outcome',
        'Reject input', 'Failed: Check input', 'Failed: Query database', 'Report no rows', 'Failed: Segment customers', 'Failed: Generate AI message', 'Failed: Track metric', 'Stop after failure', 'Setup',
      ])
      // issue_type is the enum of the types, or any letter case of one (a pattern beside it)
      type IssueType = { anyOf?: Array<{ enum?: string[]; pattern?: string }> }
      const doc = t.app.swagger() as unknown as { components: { schemas: Record<string, { properties?: Record<string, IssueType> }> }; paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { $ref?: string; properties?: Record<string, IssueType> } }> } }>> }
      const schema = doc.paths['/issues']?.post?.requestBody.content['application/json']?.schema
      const resolved = schema?.$ref ? doc.components.schemas[schema.$ref.split('/').pop() ?? ''] : schema
      expect(resolved?.properties?.issue_type?.anyOf?.[0]?.enum).toContain('refund_spike')
      expect(new RegExp(resolved?.properties?.issue_type?.anyOf?.[1]?.pattern ?? '$^').test('Refund_Spike')).toBe(true)
      // its detection rule is a KPI of POST /kpis too
      const kpi = await t.app.inject({ method: 'POST', url: '/kpis', payload: { metrics: { refund_rate: 0.09 } } })
      expect(kpi.statusCode).toBe(201)
      expect(kpi.json().evaluations).toEqual([expect.objectContaining({ issue_type: 'refund_spike', metric: 'refund_rate', breached: true, severity: 'medium' })])
      expect(JSON.stringify(doc.paths['/kpis'])).toContain('refund_rate')
    } finally {
      await t.close()
    }
  })
})

describe('data flow at start-up', () => {
  it('when a step reads a field nothing produces, then loading fails naming the file, the step and the field', () => {
    const dir = templatesCopy()
    const broken = structuredClone(REFUND_SPIKE)
    broken.steps[3]!.config = { ...broken.steps[3]!.config, segment: '{{segmnet}}' }
    addRefundSpike(dir, broken)
    expect(() => loadPlaybooks(dir)).toThrow(/refund_spike\/playbook\.json: steps\.3\.config\.segment: reads \{\{segmnet\}\}, which neither the opportunity, a setting nor an earlier step produces/)
  })

  it('when a step reads a field only a later step produces, then loading fails', () => {
    const dir = templatesCopy()
    const broken = structuredClone(REFUND_SPIKE)
    broken.steps[1]!.config = { ...broken.steps[1]!.config, note: '{{message}}' }
    addRefundSpike(dir, broken)
    expect(() => loadPlaybooks(dir)).toThrow(/steps\.1\.config\.note: reads \{\{message\}\}/)
  })

  it('when a prompt variable has no source, or a setting is never read, then loading fails naming each', () => {
    const dir = templatesCopy()
    const broken = structuredClone(REFUND_SPIKE)
    broken.steps[2]!.config = { model: '{{openai_model}}', variables: { customer_name: '{{customer_name}}' } }
    broken.settings.unused_url = { description: 'nothing reads me', default: 'x' }
    addRefundSpike(dir, broken)
    expect(() => loadPlaybooks(dir)).toThrow(/steps\.2\.config\.variables: gives no source for the prompt variable refund_amount/)
    expect(() => loadPlaybooks(dir)).toThrow(/settings\.unused_url: no step reads it/)
  })

  it('when an action has no mapping for a platform, then the service refuses to start naming the missing file', async () => {
    const dir = templatesCopy()
    rmSync(path.join(dir, 'platforms', 'make', 'send_email.json'))
    await expect(testApp({ TEMPLATES_DIR: dir })).rejects.toThrow(/platforms\/make\/send_email\.json: missing — every action needs a mapping for the make export/)
  })

  it('when a playbook step lacks a config key its mapping reads, then the service refuses to start naming both files', async () => {
    const dir = templatesCopy()
    const file = path.join(dir, 'high_churn', 'playbook.json')
    const playbook = JSON.parse(readFileSync(file, 'utf8'))
    delete playbook.steps.find((s: { action: string }) => s.action === 'send_email').config.to
    writeFileSync(file, JSON.stringify(playbook))
    await expect(testApp({ TEMPLATES_DIR: dir })).rejects.toThrow(/high_churn\/playbook\.json: steps\.3\.config\.to is missing; .*platforms\/n8n\/send_email\.json reads it/)
  })
})
