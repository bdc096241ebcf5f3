/**
 * A per-caller count of requests in fixed one-minute windows, for the requests that never reach
 * the rate-limit plugin (undecodable URLs, malformed HTTP). Forgets finished windows as it goes,
 * so its memory is bounded by the callers of the current window.
 */
export class FixedWindowLimiter {
  private windowStart = 0
  private counts = new Map<string, number>()

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the caller is within its allowance for the current window. */
  allow(caller: string): boolean {
    return this.hit(caller).count <= this.max
  }

  /** Counts one request of `caller`: its count in the current window, and the time left in it. */
  hit(caller: string): { count: number; resetInMs: number } {
    const now = this.now()
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now
      this.counts = new Map()
    }
    const count = (this.counts.get(caller) ?? 0) + 1
    this.counts.set(caller, count)
    return { count, resetInMs: this.windowStart + this.windowMs - now }
  }
}
