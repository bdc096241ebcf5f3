import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../src/config.js'
import type { Opportunity } from '../src/contract/opportunity.js'
import { generate } from '../src/generate/generate.js'
import { artifactPaths } from '../src/generate/paths.js'
import { loadPlaybooks } from '../src/playbooks/load.js'

const playbooks = loadPlaybooks(path.join(projectRoot(), 'templates'))
const GOLDEN = path.join(projectRoot(), 'tests', 'golden')
const ID = '00000000-0000-4000-8000-000000000001'
const NOW = new Date('2026-01-19T10:00:00.000Z')

const SAMPLE_VALUES: Record<string, number> = {
  high_churn: 0.08,
  abandoned_carts: 0.27,
  revenue_drop: -0.18,
  payment_failures: 0.84,
  low_conversion: 0.021,
  error_spike: 0.034,
}

function opportunity(issueType: string, overrides: Partial<Opportunity> = {}): Opportunity {
  return {
    issue_type: issueType,
    severity: 'high',
    description: `sample ${issueType}`,
    metric_value: SAMPLE_VALUES[issueType] ?? 1,
    affected_items: ['item_1', 'item_2', 'item_3'],
    timestamp: NOW.toISOString(),
    feature_suggestion: null,
    source: 'income-engine',
    ...overrides,
  }
}

describe('generate (golden files)', () => {
  // UPDATE_GOLDEN=1 npx vitest run tests/generate.test.ts rewrites them after an intended change.
  for (const issueType of Object.keys(SAMPLE_VALUES)) {
    it(`when a ${issueType} opportunity is generated, then the three files equal the golden copies`, () => {
      const playbook = playbooks.get(issueType)
      if (!playbook) throw new Error(`no playbook ${issueType}`)
      const { files } = generate(opportunity(issueType), playbook, ID, NOW)
      expect(files.map((f) => f.path)).toEqual(Object.values(artifactPaths(issueType)))
      for (const file of files) {
        const golden = path.join(GOLDEN, issueType, path.basename(file.path))
        if (process.env.UPDATE_GOLDEN) {
          mkdirSync(path.dirname(golden), { recursive: true })
          writeFileSync(golden, file.content)
        }
        expect(existsSync(golden), `${golden} is missing; UPDATE_GOLDEN=1 writes it`).toBe(true)
        expect(file.content, `${golden} differs; UPDATE_GOLDEN=1 rewrites it`).toBe(readFileSync(golden, 'utf8'))
      }
    })
  }
})

describe('generate (behaviour)', () => {
  const churn = playbooks.get('high_churn')
  const payments = playbooks.get('payment_failures')
  if (!churn || !payments) throw new Error('playbooks missing')

  it('when called twice with the same input, then the output is identical (pure)', () => {
    expect(generate(opportunity('high_churn'), churn, ID, NOW)).toEqual(generate(opportunity('high_churn'), churn, ID, NOW))
  })

  it('when a config value is a "$placeholder", then the step records where it was filled from the detection (JSON Pointer), so an export can read the run\'s own value there', () => {
    const steps = generate(opportunity('high_churn'), churn, ID, NOW).workflow.steps
    expect(steps.find((s) => s.action === 'track_metric')).toMatchObject({
      config: { baseline: 0.08, cohort_size: 3 },
      placeholders: { '/baseline': '$metric_value', '/cohort_size': '$affected_count' },
    })
    expect(steps.find((s) => s.action === 'segment_customers')).not.toHaveProperty('placeholders')
  })

  it('when the severity rises, then the offer grows and contact gets more urgent', () => {
    const generated = (severity: Opportunity['severity']) => generate(opportunity('high_churn', { severity }), churn, ID, NOW).workflow
    expect(generated('low').settings?.discount_offer?.value).toBe(0.05)
    expect(generated('critical').settings?.discount_offer?.value).toBe(0.2)
    const emailConfig = (severity: Opportunity['severity']) => generated(severity).steps.find((s) => s.action === 'send_email')?.config
    expect(emailConfig('low')).toMatchObject({ urgency: 'low' })
    expect(emailConfig('critical')).toMatchObject({ urgency: 'immediate' })
  })

  it('when severity is critical, then payment retries get more attempts than when low', () => {
    const retry = (severity: Opportunity['severity']) =>
      generate(opportunity('payment_failures', { severity }), payments, ID, NOW).workflow.steps.find((s) => s.action === 'retry_payment')?.config
    expect(JSON.stringify(retry('critical'))).toContain('"max_attempts":5')
    expect(JSON.stringify(retry('low'))).toContain('"max_attempts":2')
  })

  it('when the opportunity names affected items, then the query reads them from the opportunity and the cohort size counts them', () => {
    const { workflow } = generate(opportunity('high_churn', { affected_items: ['c_9', 'c_7'] }), churn, ID, NOW)
    // the automation runs once per opportunity: the items come from the trigger's body at run time
    expect(workflow.steps[0]?.reads).toContain('affected_items')
    expect(workflow.steps[0]?.config.parameters).toEqual(['{{affected_items}}'])
    expect(workflow.steps.at(-1)?.config.cohort_size).toBe(2)
  })

  it('when a workflow is generated, then every step says what it reads and the reads resolve to earlier producers', () => {
    for (const playbook of playbooks.values()) {
      const { workflow } = generate(opportunity(playbook.issueType), playbook, ID, NOW)
      const available = new Set(['issue_type', 'severity', 'description', 'metric_value', 'affected_items', 'timestamp', 'source', ...Object.keys(workflow.settings ?? {})])
      for (const step of workflow.steps) {
        for (const field of step.reads ?? []) expect(available, `${playbook.issueType} step ${step.id} reads ${field}`).toContain(field)
        for (const field of step.produces?.fields ?? []) available.add(field)
      }
    }
  })

  it('when the metric crosses the playbook threshold, then detection says breached', () => {
    expect(generate(opportunity('high_churn', { metric_value: 0.08 }), churn, ID, NOW).workflow.detection).toMatchObject({ observed: 0.08, breached: true })
    expect(generate(opportunity('high_churn', { metric_value: 0.02 }), churn, ID, NOW).workflow.detection.breached).toBe(false)
    expect(generate(opportunity('payment_failures', { metric_value: 0.8 }), payments, ID, NOW).workflow.detection.breached).toBe(true)
  })

  it('when files are generated, then bytes and sha256 describe the content', async () => {
    const { createHash } = await import('node:crypto')
    for (const file of generate(opportunity('high_churn'), churn, ID, NOW).files) {
      expect(file.bytes).toBe(Buffer.byteLength(file.content))
      expect(file.sha256).toBe(createHash('sha256').update(file.content).digest('hex'))
    }
  })

  it('when an issue type is not a safe name, then no path is built from it', () => {
    expect(() => artifactPaths('../../etc/passwd')).toThrow(/refusing/)
    expect(() => artifactPaths('high_churn\u0000')).toThrow(/refusing/)
  })
})
