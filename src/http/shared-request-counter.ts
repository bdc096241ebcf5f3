import type { FastifyBaseLogger } from 'fastify'
import { countRequest, forgetEndedWindows, type WindowCount } from '../store/request-counts.js'
import type { SqlDatabase } from '../store/sql.js'
import { FixedWindowLimiter } from './fixed-window.js'

/** Callers over their limit remembered here at most; beyond that the oldest verdicts are dropped. */
const MAX_REMEMBERED_VERDICTS = 10_000

/**
 * Request counts that every instance on one PostgreSQL shares (DATABASE_URL): RATE_LIMIT_MAX is
 * a budget per caller across the cluster, not per instance. Each request costs one statement on
 * an UNLOGGED table — except a caller already over its limit: that verdict is remembered here
 * until its window ends, so a flood of refused requests never reaches the database at all.
 * While the database cannot count, each instance counts on its own (per-instance budgets, as
 * with one instance) rather than letting every request through or refusing them all.
 */
export class SharedRequestCounter {
  private readonly overLimit = new Map<string, { until: number; count: number }>()
  private readonly fallback: FixedWindowLimiter
  private degraded = false

  constructor(
    private readonly db: SqlDatabase,
    private readonly max: number,
    private readonly windowMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.fallback = new FixedWindowLimiter(max, windowMs, now)
  }

  /** Counts one request of `bucket`: its count in the current window, and the time left in it. */
  async hit(bucket: string): Promise<WindowCount> {
    const now = this.now()
    const known = this.overLimit.get(bucket)
    if (known && now < known.until) {
      known.count += 1
      return { count: known.count, resetInMs: known.until - now }
    }
    if (known) this.overLimit.delete(bucket)
    try {
      const counted = await countRequest(this.db, bucket, this.windowMs)
      if (this.degraded) this.log.info('the shared rate-limit counts are reachable again')
      this.degraded = false
      if (counted.count > this.max) this.remember(bucket, now + counted.resetInMs, counted.count)
      return counted
    } catch (err) {
      if (!this.degraded) this.log.warn({ err }, 'the shared rate-limit counts cannot be reached; this instance counts on its own until they can')
      this.degraded = true
      return this.fallback.hit(bucket)
    }
  }

  /** Removes the counts of ended windows (every instance runs this now and then; it is idempotent). */
  async prune(): Promise<void> {
    await forgetEndedWindows(this.db, this.windowMs)
  }

  private remember(bucket: string, until: number, count: number): void {
    if (this.overLimit.size >= MAX_REMEMBERED_VERDICTS) {
      const now = this.now()
      for (const [key, verdict] of this.overLimit) if (verdict.until <= now) this.overLimit.delete(key)
      // still full: the oldest verdict goes (that caller is asked about again, which is merely slower)
      if (this.overLimit.size >= MAX_REMEMBERED_VERDICTS) this.overLimit.delete(this.overLimit.keys().next().value as string)
    }
    this.overLimit.set(bucket, { until, count })
  }
}
