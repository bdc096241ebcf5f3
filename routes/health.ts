import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { Liveness, Readiness } from '../src/contract/status.js'
import type { Services } from '../src/services.js'
import { repositoryStatus, storeReachable } from '../src/status.js'

/** GET /healthz (the process answers) and GET /readyz (store and repository usable). */
export const healthRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/healthz',
    { config: { operation: 'health.live' }, schema: { tags: ['operations'], summary: 'Liveness', response: { 200: Liveness } } },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      config: { operation: 'health.ready' },
      schema: { tags: ['operations'], summary: 'Readiness: the store and the repository are usable', response: { 200: Readiness, 503: Readiness } },
    },
    async (_request, reply) => {
      const store = storeReachable(services.db)
      const repo = await repositoryStatus(services.repository)
      const ready = store && repo.reachable && repo.head !== null
      const detail = [!store && 'store unreachable', !repo.reachable && `repository: ${repo.error}`, repo.reachable && repo.head === null && 'repository branch has no commit']
        .filter(Boolean)
        .join('; ')
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        checks: { store: store ? 'ok' : 'failed', repository: repo.reachable && repo.head !== null ? 'ok' : 'failed' },
        ...(detail ? { detail } : {}),
      })
    },
  )
}
