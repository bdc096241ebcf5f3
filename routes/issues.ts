import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { IngestHeaders } from '../src/contract/headers.js'
import { opportunityInput } from '../src/contract/opportunity.js'
import { problems } from '../src/contract/problem.js'
import { WorkflowRecord } from '../src/contract/workflow.js'
import { formBodyCoercion } from '../src/http/form-body.js'
import type { Services } from '../src/services.js'

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
          'decimal strings and affected_items is a repeated key or a comma-separated list. Unknown fields are ignored.',
        consumes: ['application/json', 'application/x-www-form-urlencoded'],
        security: [{ bearerAuth: [] }, { apiKeyHeader: [] }, { webhookSignature: [] }],
        headers: IngestHeaders,
        body,
        response: { 201: WorkflowRecord, ...problems(400, 401, 403, 409, 413, 415, 422, 429) },
      },
    },
    async (request, reply) => {
      const created = services.workflows.create(request.body, new Date(), (write) => request.defer(write))
      request.audit.workflow_id = created.workflow_id
      request.audit.issue_type = created.workflow.issue_type
      request.audit.files = created.files.map((f) => f.path)
      return reply.code(201).header('location', created.links.self).send(created)
    },
  )
}
