import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { IngestHeaders } from '../src/contract/headers.js'
import { opportunityInput } from '../src/contract/opportunity.js'
import { problems } from '../src/contract/problem.js'
import { WorkflowRecord } from '../src/contract/workflow.js'
import { formBodyCoercion } from '../src/http/form-body.js'
import type { Services } from '../src/services.js'
import { describeDetection } from '../src/workflows/occurrence.js'

/** POST /issues — an opportunity notification in, a generated workflow out. */
export const issueRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  const body = opportunityInput([...services.playbooks.keys()])
  app.post(
    '/issues',
    {
      config: { operation: 'issue.create', access: 'ingest', idempotent: true },
      preValidation: formBodyCoercion(body),
      schema: {
        tags: ['issues'],
        summary: 'Receive an opportunity notification and generate its workflow',
        description:
          'Accepts application/json and application/x-www-form-urlencoded (Zapier, Make). In form bodies numbers are ' +
          'decimal strings and affected_items is a repeated key (also affected_items[]) or a comma-separated list; in JSON too a decimal ' +
          'string for metric_value, a comma list for affected_items, any letter case for severity and an empty optional field are accepted. ' +
          'An unknown field is a 400 naming it and the field it most likely means. ' +
          'A detection of a type that has an open workflow younger than GROUP_WINDOW is grouped into it (200, grouped: true) unless ' +
          'its severity is higher (a new workflow supersedes the open one) or group is false; the occurrence keeps its description, ' +
          'first 100 affected items with their count, source and key (GET /workflows/{id}/occurrences).',
        consumes: ['application/json', 'application/x-www-form-urlencoded'],
        security: [{ bearerAuth: [] }, { apiKeyHeader: [] }, { webhookSignature: [] }],
        headers: IngestHeaders,
        body,
        response: {
          200: WorkflowRecord, // grouped: the open workflow, with the detection as its latest occurrence
          201: WorkflowRecord,
          ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      // held until this request's writes are committed: concurrent detections of one group cannot both create
      if (services.workflows.groups(request.body)) await services.groupLocks.holdUntilCommitted(request, [services.workflows.groupKey(request.body)])
      const { record, outcome, why, occurrence } = await services.workflows.detect(request.body, {
        now: new Date(),
        source: 'issues',
        requestId: String(request.id),
        actor: request.caller.actor,
        persist: (write) => request.defer(write),
      })
      request.audit.workflow_id = record.workflow_id
      request.audit.issue_type = record.workflow.issue_type
      // counted once stored: a detection whose transaction fails (a 503) stored nothing
      request.onCommitted(() => services.metrics.detections.inc({ issue_type: record.workflow.issue_type, outcome }))
      if (outcome === 'grouped') {
        request.audit.operation = 'issue.grouped'
        // the log alone says what was reported, as the occurrence does (GET /workflows/{id}/occurrences)
        request.audit.detail = `occurrence ${record.occurrences?.count ?? 0} of the open workflow: ${describeDetection(occurrence)}`
        return reply.code(200).send({ ...record, grouped: true })
      }
      request.audit.files = record.files.map((f) => f.path)
      if (outcome === 'superseding') request.audit.detail = `supersedes ${record.supersedes ?? ''}: ${why ?? 'the severity rose'}`
      return reply.code(201).header('location', record.links.self).send(record)
    },
  )
}
