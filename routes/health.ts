import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { Problem } from '../src/contract/problem.js'
import { Liveness, Readiness, ReadinessChecks, ServiceIndex } from '../src/contract/status.js'
import { VERSION } from '../src/version.js'
import { PROBLEM_CONTENT_TYPE } from '../src/http/error-handler.js'
import { problemType } from '../src/http/problem.js'
import type { Services } from '../src/services.js'
import { storeReachable } from '../src/status.js'

const NotReady = Problem.extend({ checks: ReadinessChecks }).meta({ id: 'NotReady' })

/** GET / (where to read on), GET /healthz (the process answers) and GET /readyz (store and repository usable). */
export const healthRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/',
    { config: { operation: 'service.index', access: 'public' }, schema: { tags: ['operations'], summary: 'Where to start: Swagger UI, the OpenAPI document, status', security: [], response: { 200: ServiceIndex } } },
    async () => ({
      name: 'auto-feature-builder' as const,
      version: VERSION,
      links: { docs: '/docs', openapi: '/openapi.json', status: '/status', health: '/healthz', workflows: '/workflows' },
    }),
  )

  app.get(
    '/healthz',
    { config: { operation: 'health.live', access: 'public' }, schema: { tags: ['operations'], summary: 'Liveness', security: [], response: { 200: Liveness } } },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      config: { operation: 'health.ready', access: 'public' },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the store and the repository are usable',
        security: [],
        response: {
          200: Readiness,
          503: { description: 'Not ready: `checks` says which dependency failed', content: { [PROBLEM_CONTENT_TYPE]: { schema: NotReady } } },
        },
      },
    },
    async (request, reply) => {
      // reachable, and the last request's transaction could be written (not a full disk)
      const store = (await storeReachable(services.db)) && services.storeHealth.lastWriteError === null
      const repo = await services.repositoryStatus.status()
      const repoOk = repo.reachable && repo.head !== null
      const checks = { store: store ? 'ok' : 'failed', repository: repoOk ? 'ok' : 'failed' } as const
      if (store && repoOk) return { status: 'ready' as const, checks }
      const detail = [!store && (services.storeHealth.lastWriteError ? `store refuses writes: ${services.storeHealth.lastWriteError}` : 'store unreachable'), !repo.reachable && `repository: ${repo.error}`, repo.reachable && repo.head === null && 'repository branch has no commit']
        .filter(Boolean)
        .join('; ')
      request.audit.detail = detail
      return reply
        .code(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send({ type: problemType('not-ready'), title: 'Not ready', status: 503, detail, instance: '/readyz', request_id: String(request.id), checks })
    },
  )
}
