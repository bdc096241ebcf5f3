import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { IngestHeaders } from '../src/contract/headers.js'
import { kpiSnapshotInput, KpiResult, ThresholdList } from '../src/contract/kpis.js'
import { problems } from '../src/contract/problem.js'
import { kpiBodyCoercion } from '../src/http/form-body.js'
import { applySnapshot, evaluateSnapshot } from '../src/kpis/service.js'
import type { Services } from '../src/services.js'
import { describeDetection } from '../src/workflows/occurrence.js'

/** POST /kpis (a KPI snapshot in, detections out) and GET /thresholds (the rules in force). */
export const kpiRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const body = kpiSnapshotInput(services.rules)
  app.post(
    '/kpis',
    {
      config: { operation: 'kpi.evaluate', access: 'ingest', idempotent: true },
      preValidation: kpiBodyCoercion(body, services.rules.map((r) => r.metric)),
      schema: {
        tags: ['issues'],
        summary: 'Evaluate a KPI snapshot against every playbook rule; breaches become workflows (or occurrences of open ones)',
        description:
          'Accepts application/json and application/x-www-form-urlencoded (form: metrics as flat fields, e.g. churn_rate=0.08). ' +
          'Rates are fractions (0.08 = 8%); a value outside its range is a 400 naming the metric. Each playbook rule whose metric is ' +
          'present is evaluated (GET /thresholds lists them); a breach is a detection, grouped like POST /issues. 201 when a ' +
          'workflow was created, 200 otherwise.',
        consumes: ['application/json', 'application/x-www-form-urlencoded'],
        security: [{ bearerAuth: [] }, { apiKeyHeader: [] }, { webhookSignature: [] }],
        headers: IngestHeaders,
        body,
        response: { 200: KpiResult, 201: KpiResult, ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503) },
      },
    },
    async (request, reply) => {
      const evaluated = evaluateSnapshot(request.body, services.rules)
      const keys = evaluated.detections.filter((d) => services.workflows.groups(d)).map((d) => services.workflows.groupKey(d))
      if (keys.length > 0) await services.groupLocks.holdUntilCommitted(request, keys)
      const result = await applySnapshot(evaluated, services.workflows, {
        now: new Date(),
        source: 'kpis',
        requestId: String(request.id),
        actor: request.caller.actor,
        persist: (write) => request.defer(write),
      })
      // counted once stored: a detection whose transaction fails (a 503) stored nothing
      request.onCommitted(() => {
        for (const { record, outcome } of result.detections) services.metrics.detections.inc({ issue_type: record.workflow.issue_type, outcome })
      })
      const first = result.detections[0]?.record
      request.audit.workflow_id = first?.workflow_id
      request.audit.issue_type = first?.workflow.issue_type
      const breached = result.evaluations.filter((e) => e.breached)
      request.audit.detail =
        breached.length === 0
          ? `no breach: ${result.evaluations.map((e) => `${e.metric} ${e.observed}`).join(', ')}`
          : result.detections
              .map(({ record, outcome, occurrence }) => {
                const said = outcome === 'grouped' ? ` (occurrence ${record.occurrences?.count ?? 0}: ${describeDetection(occurrence)})` : ''
                return `${record.workflow.issue_type} ${outcome} ${record.workflow_id}${said}`
              })
              .join('; ')
      const created = result.detections.some((d) => d.outcome !== 'grouped')
      return reply.code(created ? 201 : 200).send({
        evaluations: result.evaluations,
        workflows: result.detections.map(({ record, outcome }) => ({
          workflow_id: record.workflow_id,
          issue_type: record.workflow.issue_type,
          severity: record.workflow.severity,
          status: record.status,
          outcome,
          grouped: outcome === 'grouped',
          occurrences: record.occurrences?.count ?? 1,
          supersedes: record.supersedes ?? null,
          links: record.links,
        })),
      })
    },
  )

  app.get(
    '/thresholds',
    {
      config: { operation: 'thresholds.list', access: 'read' },
      schema: {
        tags: ['issues'],
        summary: 'The detection rules in force and where each threshold comes from (playbook, THRESHOLDS or THRESHOLDS_FILE)',
        response: { 200: ThresholdList, ...problems(401, 403, 429) },
      },
    },
    async () => ({ rules: services.rules.map((r) => ({ ...r, severity_bands: r.severity_bands as Record<string, number> })) }),
  )
}
