import type { AuditFacts } from '../audit/log.js'

/**
 * Rate-limited refusals are counted, not recorded one by one: a caller hammering the service
 * would otherwise turn every refused request into an audit row (20 000 refusals, 20 000 rows).
 * Per caller and minute the first few refusals are recorded in full; the rest are counted,
 * and the count is recorded as one entry ("rate_limit.suppressed") when that minute is over —
 * by the caller's next refusal, or by `flush()`, which the server runs every minute and at shutdown.
 */
export class RefusalLedger {
  private readonly windows = new Map<string, { start: number; recorded: number; suppressed: number; last: AuditFacts }>()

  constructor(
    private readonly recordPerWindow = 5,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The entry to record for this refusal: itself, or null when it is only counted. */
  admit(caller: string, entry: AuditFacts): AuditFacts | null {
    const now = this.now()
    const window = this.windows.get(caller)
    if (!window || now - window.start >= this.windowMs) {
      const summary = window && window.suppressed > 0 ? this.summary(window) : undefined
      this.windows.set(caller, { start: now, recorded: 1, suppressed: 0, last: entry })
      // a finished window's count rides on this entry, so no refusal goes unrecorded
      return summary ? { ...entry, detail: `${entry.detail ?? ''}${entry.detail ? '; ' : ''}${summary.detail}` } : entry
    }
    window.last = entry
    if (window.recorded < this.recordPerWindow) {
      window.recorded += 1
      return entry
    }
    window.suppressed += 1
    return null
  }

  /** Summary entries for the windows that are over, and forgets them. */
  flush(force = false): AuditFacts[] {
    const now = this.now()
    const out: AuditFacts[] = []
    for (const [caller, window] of this.windows) {
      if (!force && now - window.start < this.windowMs) continue
      if (window.suppressed > 0) out.push(this.summary(window))
      this.windows.delete(caller)
    }
    return out
  }

  private summary(window: { start: number; suppressed: number; last: AuditFacts }): AuditFacts {
    return {
      ...window.last,
      at: new Date(this.now()).toISOString(),
      operation: 'rate_limit.suppressed',
      status: 429,
      detail: `${window.suppressed} more requests from this caller were refused with 429 in the minute from ${new Date(window.start).toISOString()}; they were counted, not recorded one by one`,
    }
  }
}
