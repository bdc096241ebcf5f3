import { z } from 'zod'

export const RepositoryStatus = z
  .object({
    path: z.string(),
    branch: z.string().nullable(),
    head: z.string().nullable(),
    reachable: z.boolean(),
    error: z.string().optional(),
    remote: z
      .object({ remote: z.string(), ahead: z.number().int(), behind: z.number().int() })
      .nullable()
      .optional()
      .describe('How far the branch is ahead of and behind the remote as last pushed or fetched; null without a remote copy'),
  })
  .meta({ id: 'RepositoryStatus' })

export const ServiceStatus = z
  .object({
    service: z.literal('auto-feature-builder'),
    version: z.string(),
    started_at: z.string(),
    uptime_s: z.number(),
    dry_run_default: z.literal(true).describe('Commits are previews unless a request says dry_run: false'),
    playbooks: z.array(z.string()).describe('The issue types this instance accepts'),
    repository: RepositoryStatus,
    workflows: z.object({ total: z.number().int(), by_type: z.record(z.string(), z.number().int()) }),
    last_event: z
      .object({ at: z.string(), operation: z.string(), status: z.number().int(), workflow_id: z.string().nullable() })
      .nullable()
      .describe('The newest audit entry before this request'),
  })
  .meta({ id: 'ServiceStatus' })
export type ServiceStatus = z.infer<typeof ServiceStatus>

export const Liveness = z.object({ status: z.literal('ok') })
export const ReadinessChecks = z.object({ store: z.enum(['ok', 'failed']), repository: z.enum(['ok', 'failed']) })
export const Readiness = z.object({ status: z.literal('ready'), checks: ReadinessChecks }).meta({ id: 'Readiness' })

export const ServiceIndex = z
  .object({
    name: z.literal('auto-feature-builder'),
    version: z.string(),
    links: z.object({ docs: z.string(), openapi: z.string(), status: z.string(), health: z.string(), workflows: z.string() }),
  })
  .meta({ id: 'ServiceIndex' })
