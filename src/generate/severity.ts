import type { Severity } from '../contract/opportunity.js'

/**
 * How severity shapes a workflow: a worse problem gets faster contact, a bigger offer,
 * a higher paging priority and more retries. Playbooks refer to these as `$urgency`,
 * `$discount`, `$priority` and `$max_attempts`.
 */
export interface SeverityProfile {
  urgency: 'low' | 'normal' | 'high' | 'immediate'
  discount: number
  priority: 'P4' | 'P3' | 'P2' | 'P1'
  max_attempts: number
}

export const SEVERITY_PROFILES: Record<Severity, SeverityProfile> = {
  low: { urgency: 'low', discount: 0.05, priority: 'P4', max_attempts: 2 },
  medium: { urgency: 'normal', discount: 0.1, priority: 'P3', max_attempts: 3 },
  high: { urgency: 'high', discount: 0.15, priority: 'P2', max_attempts: 4 },
  critical: { urgency: 'immediate', discount: 0.2, priority: 'P1', max_attempts: 5 },
}
