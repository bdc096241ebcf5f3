import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { AuditList, AuditListQuery, AuditVerification, AuditVerifyQuery, parseAnchor } from '../src/contract/audit.js'
import { problems } from '../src/contract/problem.js'
import { cursorToSeq } from '../src/http/paging.js'
import type { Services } from '../src/services.js'

/** GET /audit and GET /audit/verify. */
export const auditRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  // the audit log's checkpoints live as long as the app: recovered at start, written at shutdown
  await services.audit.start(app.log)
  app.addHook('preClose', async () => services.audit.beginShutdown())
  app.addHook('onClose', async () => services.audit.close())

  app.get(
    '/audit',
    {
      config: { operation: 'audit.list', access: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Audit entries, newest first',
        querystring: AuditListQuery,
        response: { 200: AuditList, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const { workflow_id, operation, since, limit, cursor } = request.query
      return services.audit.list({ workflowId: workflow_id, operation, since, limit, beforeSeq: cursorToSeq(cursor) })
    },
  )

  app.get(
    '/audit/verify',
    {
      config: { operation: 'audit.verify', access: 'read' },
      schema: {
        tags: ['audit'],
        summary: 'Check the hash chain, the tail and the anchors; ok:false lists the problems and names the first entry that no longer matches',
        querystring: AuditVerifyQuery,
        response: { 200: AuditVerification, ...problems(400, 401, 403, 429) },
      },
    },
    async (request) => services.audit.verify({ full: request.query.full === 'true', anchor: request.query.anchor === undefined ? undefined : parseAnchor(request.query.anchor) }),
  )
}
