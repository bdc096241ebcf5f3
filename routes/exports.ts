import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { problems } from '../src/contract/problem.js'
import { ExportFormatParams, ExportJsonFile, ExportList, ExportRecipe, WorkflowIdParams } from '../src/contract/workflow.js'
import type { Services } from '../src/services.js'

/** GET /workflows/{id}/exports and GET /workflows/{id}/exports/{format}: the workflow as n8n, Make and Zapier take it. */
export const exportRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/workflows/:id/exports',
    {
      config: { operation: 'export.list', access: 'read' },
      schema: {
        tags: ['exports'],
        summary: 'The export formats of a workflow, with download links and what to set up after import',
        params: WorkflowIdParams,
        response: { 200: ExportList, ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request) => {
      request.audit.workflow_id = request.params.id
      return { workflow_id: request.params.id, exports: await services.workflows.listExports(request.params.id) }
    },
  )

  app.get(
    '/workflows/:id/exports/:format',
    {
      config: { operation: 'export.get', access: 'read' },
      schema: {
        tags: ['exports'],
        summary: 'Download one export: an n8n workflow, a Make blueprint or a Zapier recipe',
        description:
          'n8n: import with Workflows → Import from File (or `n8n import:workflow`). make: Scenarios → Create → Import Blueprint. ' +
          'zapier: a Markdown recipe (Zapier has no import format). Sent as an attachment; an unknown format is a 404 naming the formats.',
        params: ExportFormatParams,
        response: {
          200: {
            description: 'The file: a JSON object for n8n and make, Markdown for zapier',
            content: { 'application/json': { schema: ExportJsonFile }, 'text/markdown': { schema: ExportRecipe } },
          },
          ...problems(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (request, reply) => {
      const { id, format } = request.params
      request.audit.workflow_id = id
      const file = await services.workflows.exportFile(id, format)
      request.audit.files = [file.path]
      // a string with its own content type is sent as it is, not serialized again
      return reply
        .type(file.mediaType)
        .header('content-disposition', `attachment; filename="${file.path.slice(file.path.lastIndexOf('/') + 1)}"`)
        .send(file.content)
    },
  )
}
