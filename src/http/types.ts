import type { AuditFacts } from '../audit/log.js'

/** What a handler learns during a request that its audit entry should carry. */
export type AuditContext = Partial<
  Pick<AuditFacts, 'actor' | 'workflow_id' | 'issue_type' | 'files' | 'commit_sha' | 'dry_run' | 'pushed' | 'detail' | 'operation'>
>

declare module 'fastify' {
  interface FastifyRequest {
    audit: AuditContext
  }
  interface FastifyContextConfig {
    /** The audit operation name of the route, e.g. "issue.create". */
    operation?: string
  }
}
