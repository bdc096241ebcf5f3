import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { CommitRequest, CommitResult, Preview, Unchanged } from '../src/contract/commit.js'
import { IdempotentHeaders } from '../src/contract/headers.js'
import { problems } from '../src/contract/problem.js'
import { WorkflowIdParams } from '../src/contract/workflow.js'
import { requireRole } from '../src/auth/hook.js'
import { formBodyCoercion } from '../src/http/form-body.js'
import type { Services } from '../src/services.js'

/** GET /workflows/{id}/preview (the dry run) and POST /commits (real only with dry_run: false). */
export const commitRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/workflows/:id/preview',
    {
      config: { operation: 'commit.preview', access: 'read' },
      schema: {
        tags: ['commits'],
        summary: 'Dry run: exactly what a commit of this workflow would write, and whether it could',
        description:
          'Writes nothing anywhere: not the work tree, not the index, not a ref. With GIT_REMOTE_IS_TRUTH the remote branch is fetched first and ' +
          'compared with (its remote-tracking ref and the objects fetched are then the only writes); an unreachable remote is a 503 with Retry-After.',
        params: WorkflowIdParams,
        response: { 200: Preview, ...problems(400, 401, 403, 404, 409, 429, 503) },
      },
    },
    async (request) => services.commits.preview(request.params.id, request.audit),
  )

  app.post(
    '/commits',
    {
      config: { operation: 'commit.dry_run', access: 'read', idempotent: true, roleHint: 'a preview needs read, a real commit (dry_run: false) needs read and commit' },
      preValidation: formBodyCoercion(CommitRequest),
      schema: {
        tags: ['commits'],
        operationId: 'commit.create',
        summary: 'Commit a workflow — a preview unless dry_run is exactly false',
        description:
          'dry_run defaults to true and must be a JSON boolean (form bodies: exactly "true" or "false"); "false", 0 or null are 400 — ' +
          'never a silent real commit. A real commit contains exactly the generated files; nothing else in the work tree is touched. ' +
          'With GIT_REMOTE_IS_TRUTH the commit is built on the remote branch and counts only once pushed (push is implied): 409 commit-conflict when the ' +
          'remote changed its files meanwhile, 503 remote-unavailable or remote-busy (with Retry-After) when it cannot be pushed now.',
        consumes: ['application/json', 'application/x-www-form-urlencoded'],
        headers: IdempotentHeaders,
        body: CommitRequest,
        response: {
          200: z.union([Preview, Unchanged]).describe('The preview (dry run), or status "unchanged" when the branch already holds the files'),
          201: CommitResult,
          ...problems(400, 401, 403, 404, 409, 415, 422, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const { workflow_id, dry_run, push } = request.body
      request.audit.workflow_id = workflow_id
      request.audit.dry_run = dry_run
      if (dry_run) return services.commits.preview(workflow_id, request.audit)
      request.audit.operation = 'commit.create'
      requireRole(request, 'commit') // a real commit (and push) needs more than the read role a preview needs
      const result = await services.commits.commit(workflow_id, push, request.audit, request.log)
      return 'status' in result ? reply.code(200).send(result) : reply.code(201).send(result)
    },
  )
}
