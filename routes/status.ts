import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ServiceStatus } from '../src/contract/status.js'
import type { Services } from '../src/services.js'
import { repositoryStatus } from '../src/status.js'
import { VERSION } from '../src/version.js'

/** GET /status — what this listener is, where it commits, and what it has seen. */
export const statusRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.get(
    '/status',
    {
      config: { operation: 'status' },
      schema: { tags: ['operations'], summary: 'Listener status', response: { 200: ServiceStatus } },
    },
    async () => {
      const last = services.audit.lastEntry()
      return {
        service: 'auto-feature-builder' as const,
        version: VERSION,
        started_at: services.startedAt.toISOString(),
        uptime_s: Math.round((Date.now() - services.startedAt.getTime()) / 1000),
        dry_run_default: true as const,
        playbooks: [...services.playbooks.keys()],
        repository: await repositoryStatus(services.repository),
        workflows: { total: services.store.count(), by_type: services.store.countsByType() },
        last_event: last ? { at: last.at, operation: last.operation, status: last.status, workflow_id: last.workflow_id } : null,
      }
    },
  )
}
