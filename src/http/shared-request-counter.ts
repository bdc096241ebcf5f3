import type { FastifyBaseLogger } from 'fastify'
import { countRequest, forgetEndedWindows, type WindowCount } from '../store/request-counts.js'
import type { SqlDatabase } from '../store/sql.js'
import { FixedWindowLimiter } from './fixed-window.js'

/** Callers over their limit remembered here at most; beyond that the oldest verdicts are dropped. */
const MAX_REMEMBERED_VERDICTS = 10_000

export interface SharedCountingOptions {
  /** statements counting at once, at most: the rest wait here, so counting never takes more of the pool */
  maxInFlight: number
  /** how long a request waits for its count (a slot and the statement) before it is counted here instead */
  waitMs?: number
  /** after a failure or a count too slow, how long this instance counts on its own before asking again */
  backOffMs?: number
  now?: () => number
}

/**
 * Request counts that every instance on one PostgreSQL shares (DATABASE_URL): RATE_LIMIT_MAX is
 * a budget per caller across the cluster, not per instance. Each request costs one statement on
 * an UNLOGGED table — except a caller already over its limit: that verdict is remembered here
 * until its window ends, so a flood of refused requests never reaches the database at all.
 *
 * Counting runs before authentication, so it must never make a request wait long on the
 * database: at most `maxInFlight` statements at once, each request waits at most `waitMs`, and a
 * database that fails or is too slow is left alone for `backOffMs`. Meanwhile each instance
 * counts on its own (per-instance budgets, as with one instance) rather than letting every
 * request through or refusing them all.
 */
export class SharedRequestCounter {
  private readonly overLimit = new Map<string, { until: number; count: number }>()
  private readonly fallback: FixedWindowLimiter
  private readonly waitMs: number
  private readonly backOffMs: number
  private readonly now: () => number
  private inFlight = 0
  /** waiters for a slot, in order; a request that stops waiting leaves at once (a Set keeps insertion order), so there are never more than requests in flight */
  private readonly waiting = new Set<() => void>()
  /** until when this instance counts on its own (0: it asks the database) */
  private aloneUntil = 0

  constructor(
    private readonly db: SqlDatabase,
    private readonly max: number,
    private readonly windowMs: number,
    private readonly log: FastifyBaseLogger,
    private readonly options: SharedCountingOptions,
  ) {
    this.waitMs = options.waitMs ?? 100
    this.backOffMs = options.backOffMs ?? 5_000
    this.now = options.now ?? Date.now
    this.fallback = new FixedWindowLimiter(max, windowMs, this.now)
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
    if (now < this.aloneUntil) return this.fallback.hit(bucket)
    const counted = await this.countInTime(bucket)
    if (counted instanceof Error) {
      if (this.aloneUntil === 0) this.log.warn({ reason: counted.message }, `the shared rate-limit counts cannot be reached in time; this instance counts on its own, asking again every ${this.backOffMs} ms`)
      this.aloneUntil = this.now() + this.backOffMs
      return this.fallback.hit(bucket)
    }
    // only a count that began after the back-off ended says the database is back (a late answer from before does not)
    if (this.aloneUntil !== 0 && now >= this.aloneUntil) {
      this.log.info('the shared rate-limit counts are reachable again')
      this.aloneUntil = 0
    }
    if (counted.count > this.max) this.remember(bucket, now + counted.resetInMs, counted.count)
    return counted
  }

  /** Removes the counts of ended windows (every instance runs this now and then; it is idempotent). */
  async prune(): Promise<void> {
    await forgetEndedWindows(this.db, this.windowMs)
  }

  /** The shared count, or the reason there is none within waitMs (a failure, or the time is up). */
  private async countInTime(bucket: string): Promise<WindowCount | Error> {
    let timer: NodeJS.Timeout | undefined
    const timeUp = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`no count within ${this.waitMs} ms`)), this.waitMs)
    })
    const slot = this.slot()
    const counting = slot.granted.then(async () => {
      try {
        return await countRequest(this.db, bucket, this.windowMs)
      } finally {
        this.release()
      }
    })
    try {
      const outcome = await Promise.race([counting.catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))), timeUp])
      // still waiting for a slot: it never runs; a statement already sent still counts, only this request does not wait for it
      if (outcome instanceof Error) slot.cancel()
      return outcome
    } finally {
      clearTimeout(timer)
    }
  }

  /** One of the maxInFlight slots: granted at once or when a holder releases it; a cancelled wait leaves the queue and never gets it. */
  private slot(): { granted: Promise<void>; cancel(): void } {
    if (this.inFlight < this.options.maxInFlight) {
      this.inFlight += 1
      return { granted: Promise.resolve(), cancel: () => undefined }
    }
    let grant!: () => void
    const granted = new Promise<void>((resolve) => (grant = resolve))
    this.waiting.add(grant)
    return { granted, cancel: () => this.waiting.delete(grant) }
  }

  /** The slot passes straight to the next waiter (inFlight stays), or is given back. */
  private release(): void {
    const [next] = this.waiting
    if (next === undefined) {
      this.inFlight -= 1
      return
    }
    this.waiting.delete(next)
    next()
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
