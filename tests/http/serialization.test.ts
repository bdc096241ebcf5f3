import { afterEach, describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { AuditList } from '../../src/contract/audit.js'
import { CommitResult, Preview } from '../../src/contract/commit.js'
import { KpiResult, ThresholdList } from '../../src/contract/kpis.js'
import { ServiceIndex, ServiceStatus } from '../../src/contract/status.js'
import { ExportList, WorkflowList, WorkflowRecord } from '../../src/contract/workflow.js'
import { sampleOpportunity, testApp, type TestApp } from '../helpers/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('responses without the zod pass (RESPONSE_VALIDATION=0, as in production)', () => {
  it('when the main routes answer, then each body is exactly its schema: valid, and nothing the schema would strip', async () => {
    t = await testApp({ RESPONSE_VALIDATION: '0' })
    const exact = (schema: z.ZodType, body: string) => {
      const parsed: unknown = JSON.parse(body)
      // zod drops unknown keys: an equal result means the handler sent no field the contract lacks
      expect(schema.encode(parsed)).toEqual(parsed)
    }
    const created = await t.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })
    expect(created.statusCode).toBe(201)
    exact(WorkflowRecord, created.body)
    const id = created.json().workflow_id
    exact(WorkflowRecord, (await t.app.inject(`/workflows/${id}`)).body)
    exact(WorkflowList, (await t.app.inject('/workflows')).body)
    exact(Preview, (await t.app.inject(`/workflows/${id}/preview`)).body)
    const commit = await t.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    expect(commit.statusCode).toBe(201)
    exact(CommitResult, commit.body)
    exact(WorkflowRecord, (await t.app.inject(`/workflows/${id}`)).body)
    exact(ServiceStatus, (await t.app.inject('/status')).body)
    exact(AuditList, (await t.app.inject('/audit')).body)
    exact(ExportList, (await t.app.inject(`/workflows/${id}/exports`)).body)
    exact(ServiceIndex, (await t.app.inject('/')).body)
    exact(ThresholdList, (await t.app.inject('/thresholds')).body)
    const breach = await t.app.inject({ method: 'POST', url: '/kpis', payload: { metrics: { churn_rate: 0.09, error_rate: 0.001 } } })
    expect(breach.statusCode).toBe(201)
    exact(KpiResult, breach.body)
    const grouped = await t.app.inject({ method: 'POST', url: '/issues', payload: { ...sampleOpportunity, group: true } })
    exact(WorkflowRecord, grouped.body)
  })
})
