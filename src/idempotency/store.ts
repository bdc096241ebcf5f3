import { StoreUnavailable, type SqlDatabase, type SqlSession } from '../store/sql.js'

export interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** what the original request's audit entry said (operation, workflow, commit…), for the replay's entry */
  audit: Record<string, unknown>
}

export type Reservation =
  /** `claimedAt` identifies this claim: completing or releasing it touches the key only while it is still this claim */
  | { kind: 'reserved'; claimedAt: number }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'in-progress' }

/**
 * A key still "running" after this long belongs to a request whose process died (a request is cut
 * off by REQUEST_TIMEOUT_MS long before): the sender's retry takes it over. With one instance the
 * start-up clears such keys at once; with several sharing a database only this lease can tell.
 */
export const ABANDONED_AFTER_MS = 10 * 60_000

interface Row {
  created_at: number
  fingerprint: string
  state: 'running' | 'done'
  status: number | null
  headers: string | null
  body: string | null
  audit: string | null
}

/** Releases that failed while the database was away, tried again at most this many at a time (beyond, the lease frees the key). */
const MAX_PENDING_RELEASES = 10_000
const RELEASE_RETRY_FIRST_MS = 1_000
const RELEASE_RETRY_LAST_MS = 60_000

/** Idempotency keys in the database, so a retry is recognized across restarts too. */
export class IdempotencyStore {
  private readonly pendingReleases = new Map<string, NodeJS.Timeout>()
  private retriesStopped = false

  constructor(
    private readonly db: SqlDatabase,
    private readonly ttlMs: number,
  ) {}

  /**
   * At start-up. When one process owns this database (SQLite), a key still "running" belongs to a
   * request that died with the previous process, and must not block its sender's retry until it
   * expires. Instances sharing a database (PostgreSQL) leave each other's keys alone: the lease
   * (ABANDONED_AFTER_MS) frees them.
   */
  async clearAbandoned(): Promise<void> {
    if (this.db.dialect !== 'sqlite') return
    await this.db.run(`DELETE FROM idempotency_keys WHERE state = 'running'`)
  }

  /** Claims the key for this request, or says what an earlier request with it did. */
  reserve(scope: string, key: string, fingerprint: string, now = Date.now()): Promise<Reservation> {
    return this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM idempotency_keys WHERE expires_at < ?', [now])
      // the claim is one statement: of two requests with one key, whichever inserts first holds it,
      // and the other finds its row (a database with several writers makes the second wait for the first)
      const claimed = await tx.run(
        `INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES (?, ?, ?, 'running', ?, ?) ON CONFLICT (scope, key) DO NOTHING`,
        [scope, key, fingerprint, now, now + this.ttlMs],
      )
      if (claimed.changes === 1) return { kind: 'reserved', claimedAt: now }
      const row = await tx.get<Row>('SELECT created_at, fingerprint, state, status, headers, body, audit FROM idempotency_keys WHERE scope = ? AND key = ?', [scope, key])
      if (!row) return { kind: 'in-progress' } // released between the two statements: the sender retries
      if (row.state === 'running' && row.created_at < now - ABANDONED_AFTER_MS) {
        // its request died with its process: this one takes the key over (whoever updates first)
        const taken = await tx.run(
          `UPDATE idempotency_keys SET fingerprint = ?, created_at = ?, expires_at = ? WHERE scope = ? AND key = ? AND state = 'running' AND created_at = ?`,
          [fingerprint, now, now + this.ttlMs, scope, key, row.created_at],
        )
        if (taken.changes === 1) return { kind: 'reserved', claimedAt: now }
      }
      if (row.fingerprint !== fingerprint) return { kind: 'mismatch' }
      if (row.state === 'running') return { kind: 'in-progress' }
      return {
        kind: 'replay',
        response: {
          status: row.status ?? 200,
          headers: JSON.parse(row.headers ?? '{}') as Record<string, string>,
          body: row.body ?? '',
          audit: JSON.parse(row.audit ?? '{}') as Record<string, unknown>,
        },
      }
    })
  }

  /**
   * In the request's transaction: the key is done together with what its request stored. A claim
   * that was taken over meanwhile (its request outlived the lease) throws, so that request's
   * transaction stores nothing: the key's answer is the retry's.
   */
  async complete(tx: SqlSession, scope: string, key: string, claimedAt: number, response: StoredResponse): Promise<void> {
    const done = await tx.run(
      `UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?, audit = ? WHERE scope = ? AND key = ? AND state = 'running' AND created_at = ?`,
      [response.status, JSON.stringify(response.headers), response.body, JSON.stringify(response.audit), scope, key, claimedAt],
    )
    if (done.changes !== 1) throw new Error(`the Idempotency-Key ${key} is no longer this request's: a retry took it over after ${ABANDONED_AFTER_MS / 60_000} minutes`)
  }

  /** Forgets a key whose request failed on our side (5xx) or met a passing state (409, 429), so the retry runs again; a key taken over meanwhile is left to its new claim. */
  async release(scope: string, key: string, claimedAt: number): Promise<void> {
    await this.db.run(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'running' AND created_at = ?`, [scope, key, claimedAt])
  }

  /**
   * release(), and if the database cannot take it now (the request failed because the database
   * went away), again in the background after a growing pause until it can: the sender's retry
   * after the outage then runs, instead of meeting "in progress" until the lease ends.
   */
  async releaseEventually(scope: string, key: string, claimedAt: number): Promise<void> {
    try {
      await this.release(scope, key, claimedAt)
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err
      this.retryRelease(scope, key, claimedAt, RELEASE_RETRY_FIRST_MS)
    }
  }

  /** Ends the background releases (shutdown): the lease frees what they would have. */
  stopRetries(): void {
    this.retriesStopped = true
    for (const timer of this.pendingReleases.values()) clearTimeout(timer)
    this.pendingReleases.clear()
  }

  private retryRelease(scope: string, key: string, claimedAt: number, pauseMs: number): void {
    const id = JSON.stringify([scope, key, claimedAt])
    if (this.retriesStopped) return
    if (!this.pendingReleases.has(id) && this.pendingReleases.size >= MAX_PENDING_RELEASES) return
    const timer = setTimeout(() => {
      this.release(scope, key, claimedAt).then(
        () => this.pendingReleases.delete(id),
        (err: unknown) => {
          // while the database is away, until the lease would free the key anyway; any other error is no outage to wait out
          if (err instanceof StoreUnavailable && Date.now() - claimedAt < ABANDONED_AFTER_MS) this.retryRelease(scope, key, claimedAt, Math.min(pauseMs * 2, RELEASE_RETRY_LAST_MS))
          else this.pendingReleases.delete(id)
        },
      )
    }, pauseMs).unref()
    this.pendingReleases.set(id, timer)
  }
}
