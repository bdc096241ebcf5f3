import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { problems } from '../src/contract/problem.js'
import { ServiceStatus } from '../src/contract/status.js'
import type { Services } from '../src/services.js'
import { VERSION } from '../src/version.js'

/** GET /status — what this listener is, where it commits, and what it has seen. */
export const statusRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/status',
    {
      config: { operation: 'status', access: 'read' },
      schema: { tags: ['operations'], summary: 'Listener status', response: { 200: ServiceStatus, ...problems(401, 403, 429) } },
    },
    async () => {
      const last = await services.audit.lastEntry()
      return {
        service: 'auto-feature-builder' as const,
        version: VERSION,
        started_at: services.startedAt.toISOString(),
        uptime_s: Math.round((Date.now() - services.startedAt.getTime()) / 1000),
        dry_run_default: true as const,
        playbooks: [...services.playbooks.keys()],
        repository: await services.repositoryStatus.status(),
        workflows: { total: await services.store.count(), by_type: await services.store.countsByType() },
        last_event: last ? { at: last.at, operation: last.operation, status: last.status, workflow_id: last.workflow_id } : null,
      }
    },
  )
}
