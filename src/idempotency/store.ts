import type { Db } from '../store/database.js'

export interface StoredResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** what the original request's audit entry said (operation, workflow, commit…), for the replay's entry */
  audit: Record<string, unknown>
}

export type Reservation =
  | { kind: 'reserved' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'in-progress' }

interface Row {
  fingerprint: string
  state: 'running' | 'done'
  status: number | null
  headers: string | null
  body: string | null
  audit: string | null
}

/** Idempotency keys in SQLite, so a retry is recognized across restarts too. */
export class IdempotencyStore {
  private readonly reserveTx

  constructor(
    private readonly db: Db,
    private readonly ttlMs: number,
  ) {
    // One process owns this database: a key still "running" at start-up belongs to a request that
    // died with the previous process, and must not block its sender's retry until it expires.
    db.prepare(`DELETE FROM idempotency_keys WHERE state = 'running'`).run()
    const purge = db.prepare('DELETE FROM idempotency_keys WHERE expires_at < ?')
    const find = db.prepare('SELECT fingerprint, state, status, headers, body, audit FROM idempotency_keys WHERE scope = ? AND key = ?')
    const insert = db.prepare(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES (?, ?, ?, 'running', ?, ?)`,
    )
    this.reserveTx = db.transaction((scope: string, key: string, fingerprint: string, now: number): Reservation => {
      purge.run(now)
      const row = find.get(scope, key) as Row | undefined
      if (!row) {
        insert.run(scope, key, fingerprint, now, now + this.ttlMs)
        return { kind: 'reserved' }
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

  /** Claims the key for this request, or says what an earlier request with it did. */
  reserve(scope: string, key: string, fingerprint: string, now = Date.now()): Reservation {
    return this.reserveTx.immediate(scope, key, fingerprint, now)
  }

  complete(scope: string, key: string, response: StoredResponse): void {
    this.db
      .prepare(`UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?, audit = ? WHERE scope = ? AND key = ?`)
      .run(response.status, JSON.stringify(response.headers), response.body, JSON.stringify(response.audit), scope, key)
  }

  /** Forgets a key whose request failed on our side (5xx) or met a passing state (409, 429), so the retry runs again. */
  release(scope: string, key: string): void {
    this.db.prepare(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'running'`).run(scope, key)
  }
}
