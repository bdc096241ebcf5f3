import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { problems } from '../src/contract/problem.js'
import {
  RenderedPrompt,
  RenderPromptBody,
  OccurrenceList,
  OccurrenceListQuery,
  WorkflowIdParams,
  WorkflowList,
  WorkflowListQuery,
  WorkflowRecord,
} from '../src/contract/workflow.js'
import { cursorToSeq } from '../src/http/paging.js'
import type { Services } from '../src/services.js'

/** GET /workflows, GET /workflows/{id}, GET /workflows/{id}/occurrences, POST /workflows/{id}/prompt. */
export const workflowRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/workflows',
    {
      config: { operation: 'workflow.list', access: 'read' },
      schema: {
        tags: ['workflows'],
        summary: 'List workflows, newest first',
        querystring: WorkflowListQuery,
        response: { 200: WorkflowList, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const { issue_type, status, min_occurrences, limit, cursor } = request.query
      // a replaced commit becomes superseded, so what is committed is what is live
      return services.store.list({ issueType: issue_type, status: status === 'live' ? 'committed' : status, minOccurrences: min_occurrences, limit, beforeSeq: cursorToSeq(cursor) })
    },
  )

  app.get(
    '/workflows/:id',
    {
      config: { operation: 'workflow.get', access: 'read' },
      schema: {
        tags: ['workflows'],
        summary: 'One workflow: what POST /issues answered, its status and, once committed, its commit',
        params: WorkflowIdParams,
        response: { 200: WorkflowRecord, ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request) => {
      request.audit.workflow_id = request.params.id
      const record = await services.workflows.get(request.params.id)
      request.audit.issue_type = record.workflow.issue_type
      return record
    },
  )

  app.get(
    '/workflows/:id/occurrences',
    {
      config: { operation: 'workflow.occurrences', access: 'read' },
      schema: {
        tags: ['workflows'],
        summary: 'The detections a workflow stands for, newest first, each with what it said',
        description:
          'Every occurrence: the detection that created the workflow and each one grouped into it, with its description, its ' +
          'first 100 affected items and how many it named, its source and the API key that sent it. Kept as long as the workflow ' +
          '(RETENTION_DAYS purges uncommitted workflows with their occurrences).',
        params: WorkflowIdParams,
        querystring: OccurrenceListQuery,
        response: { 200: OccurrenceList, ...problems(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      request.audit.workflow_id = request.params.id
      return services.workflows.occurrences(request.params.id, request.query.limit, cursorToSeq(request.query.cursor))
    },
  )

  app.post(
    '/workflows/:id/prompt',
    {
      config: { operation: 'prompt.render', access: 'read' },
      schema: {
        tags: ['workflows'],
        summary: "Render the workflow's prompt template with the given variables",
        description:
          'Every declared variable must be given with its type (string, int, float) and no other. The output is not HTML-escaped. ' +
          'Each value stands in the prompt as <data>JSON</data> (< and > escaped, so no value can end its block); send `system` as the ' +
          'system message and `rendered` as the user message, so the model treats the values as data, never as instructions.',
        params: WorkflowIdParams,
        body: RenderPromptBody,
        response: { 200: RenderedPrompt, ...problems(400, 401, 403, 404, 409, 415, 429) },
      },
    },
    async (request) => {
      request.audit.workflow_id = request.params.id
      return await services.workflows.renderPrompt(request.params.id, request.body.variables)
    },
  )
}
