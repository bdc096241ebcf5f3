import { describe, expect, it } from 'vitest'
import { SEVERITIES, type Opportunity } from '../../src/contract/opportunity.js'
import { CHECK_OPPORTUNITY_JS, checkRulesFor, type CheckResult, type CheckRules } from '../../src/exports/check-opportunity.js'
import type { N8nWorkflow } from '../../src/exports/n8n.js'
import { placeholderValues } from '../../src/generate/workflow.js'
import { exportOf } from './fixtures.js'

// the very text the n8n export embeds, evaluated as n8n's Code node evaluates it
const checkOpportunity = new Function(`${CHECK_OPPORTUNITY_JS}\nreturn checkOpportunity`)() as (body: unknown, rules: CheckRules) => CheckResult

const WORKFLOW_ID = '00000000-0000-4000-8000-000000000001'
const NOW = '2026-01-19T10:00:00.000Z'
const rules: CheckRules = { ...checkRulesFor('high_churn', WORKFLOW_ID), maxItems: 500, now: NOW }
const valid = { issue_type: 'high_churn', severity: 'high', description: 'Churn rose to 8%', metric_value: 0.08, affected_items: ['cust_1', 'cust_2'] }
const check = (body: unknown, overrides: Partial<CheckRules> = {}) => checkOpportunity(body, { ...rules, ...overrides })
const rejection = (body: unknown, overrides: Partial<CheckRules> = {}) => {
  const result = check(body, overrides)
  return result.valid ? undefined : { status: result.status, field: result.field }
}
const itemsOf = (body: unknown) => {
  const result = check(body)
  return result.valid ? result.opportunity['affected_items'] : result
}

describe('the opportunity check every export runs first', () => {
  it('when the n8n export is built, then its Code node embeds exactly this check', () => {
    const code = (JSON.parse(exportOf('n8n', 'high_churn').content) as N8nWorkflow).nodes.find((n) => n.name === 'Check input')?.parameters['jsCode']
    expect(code).toContain(CHECK_OPPORTUNITY_JS)
  })

  it('when the body is sound, then later steps get it normalised: severity in lower case, a decimal text as its number, the generated workflow id and the time received', () => {
    expect(check({ ...valid, severity: ' HIGH ', metric_value: '0.12', source: 'make' })).toEqual({
      valid: true,
      opportunity: { workflow_id: WORKFLOW_ID, issue_type: 'high_churn', severity: 'high', description: 'Churn rose to 8%', metric_value: 0.12, affected_items: ['cust_1', 'cust_2'], timestamp: NOW, source: 'make' },
      placeholders: expect.objectContaining({ metric_value: 0.12, severity: 'high', affected_count: 2 }),
    })
    const sent = check({ ...valid, workflow_id: 'wf-42', timestamp: 1768816800 })
    expect(sent.valid && sent.opportunity).toMatchObject({ workflow_id: 'wf-42', timestamp: '2026-01-19T10:00:00.000Z' })
  })

  it('when a field is missing or wrong, then the answer is 400 naming it', () => {
    const { issue_type: _, ...noType } = valid
    expect(rejection(noType)).toEqual({ status: 400, field: 'issue_type' })
    expect(rejection({ ...valid, issue_type: 'error_spike' })).toEqual({ status: 400, field: 'issue_type' })
    expect(rejection({ ...valid, severity: 'urgent' })).toEqual({ status: 400, field: 'severity' })
    expect(rejection({ ...valid, description: '  ' })).toEqual({ status: 400, field: 'description' })
    expect(rejection({ ...valid, metric_value: 'abc' })).toEqual({ status: 400, field: 'metric_value' })
    expect(rejection({ ...valid, metric_value: ['0.1', '0.2'] })).toEqual({ status: 400, field: 'metric_value' })
    expect(rejection({ ...valid, affected_items: [{ id: 'cust_1' }] })).toEqual({ status: 400, field: 'affected_items' })
    expect(rejection({ ...valid, timestamp: 'yesterday' })).toEqual({ status: 400, field: 'timestamp' })
    expect(rejection([valid])).toEqual({ status: 400, field: 'body' })
    const percent = check({ ...valid, metric_value: '8%' })
    expect(!percent.valid && percent.error).toBe('metric_value is a fraction, not a percentage: send 0.08 for 8%')
  })

  it('when affected_items is an array, a comma-separated text or repeated form fields, then it is the same trimmed list', () => {
    expect(itemsOf({ ...valid, affected_items: ['cust_1', ' cust_2 '] })).toEqual(['cust_1', 'cust_2'])
    expect(itemsOf({ ...valid, affected_items: 'cust_1, cust_2' })).toEqual(['cust_1', 'cust_2'])
    const { affected_items: _, ...form } = valid
    expect(itemsOf({ ...form, 'affected_items[]': ['cust_1', 'cust_2'] })).toEqual(['cust_1', 'cust_2'])
  })

  it('when affected_items is absent, null, "", [] or [""], then it means the same: no items named (the whole cohort)', () => {
    const { affected_items: _, ...absent } = valid
    for (const body of [absent, { ...valid, affected_items: null }, { ...valid, affected_items: '' }, { ...valid, affected_items: [] }, { ...valid, affected_items: [''] }, { ...valid, affected_items: ' , ' }]) {
      expect(itemsOf(body), JSON.stringify(body)).toEqual([])
    }
  })

  it('when affected_items names more than max_items, then the answer is 422 naming the cap', () => {
    const result = check({ ...valid, affected_items: ['a', 'b', 'c'] }, { maxItems: 2 })
    expect(result).toEqual({ valid: false, status: 422, field: 'affected_items', error: 'affected_items names 3 items; this workflow takes at most 2 (max_items)' })
    expect(check({ ...valid, affected_items: ['a', 'b'] }, { maxItems: 2 }).valid).toBe(true)
    expect(rejection(valid, { maxItems: 'many' })).toEqual({ status: 500, field: 'max_items' })
  })

  it('when the run derives the playbook placeholders, then they are the values the generator fills from the same opportunity, at every severity', () => {
    for (const severity of SEVERITIES) {
      const result = check({ ...valid, severity })
      if (!result.valid) throw new Error(result.error)
      const generated = placeholderValues(result.opportunity as unknown as Opportunity)
      expect(result.placeholders).toEqual(Object.fromEntries(Object.entries(generated).map(([name, value]) => [name.slice(1), value])))
    }
  })
})
