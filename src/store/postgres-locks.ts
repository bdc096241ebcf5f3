import pg from 'pg'

/** How long a waiter pauses before asking again, growing from the first to the last while another instance holds the lock. */
const FIRST_PAUSE_MS = 2
const LAST_PAUSE_MS = 100

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Every advisory lock this instance holds, on ONE database session of its own. A held lock costs
 * no connection, so however many requests hold locks (a group lock per distinct dedup_key in
 * flight, a commit lock), statements keep the pool; a lock that waited on a connection of its own
 * would let a caller with many distinct keys use every connection up.
 *
 * A lock is taken with pg_try_advisory_lock and asked again, after a growing pause, while another
 * instance holds it: a waiter never blocks the session for the other locks. One holder per name
 * in this process (the caller queues them): session locks are reentrant, so a second local
 * holder would not wait. PostgreSQL drops every lock with the session, so a crashed instance
 * never leaves one held; a session lost while this process runs is replaced, and each lock taken
 * on it is reported as lost when its work ends.
 */
export class LockSession {
  private current: pg.Client | undefined
  private connecting: Promise<pg.Client> | undefined
  /** counts the sessions: a lock taken on an older one went with it */
  private generation = 0

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly translated: (err: unknown, connecting?: boolean) => unknown,
  ) {}

  /** Resolves with the session's generation once `name` is held on it. */
  async take(name: string): Promise<number> {
    for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, LAST_PAUSE_MS)) {
      const rows = await this.query<{ taken: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken', [name])
      // a session lost during the query would have failed it: the lock is on the current one
      if (rows[0]?.taken) return this.generation
      await sleep(pause)
    }
  }

  /** Whether locks taken on session `generation` are still held: false once that session was lost. */
  holds(generation: number): boolean {
    return generation === this.generation
  }

  /** Releases `name`; false when the session it was taken on was lost meanwhile (PostgreSQL released it then). */
  async give(name: string, generation: number): Promise<boolean> {
    if (generation !== this.generation) return false
    await this.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]).catch(() => undefined)
    return generation === this.generation
  }

  async close(): Promise<void> {
    const client = this.current ?? (await this.connecting?.catch(() => undefined))
    this.current = undefined
    await client?.end().catch(() => undefined)
  }

  private async query<Row>(sql: string, params: unknown[]): Promise<Row[]> {
    const client = await this.session()
    try {
      return (await client.query(sql, params)).rows as Row[]
    } catch (err) {
      this.lose(client)
      throw this.translated(err)
    }
  }

  private session(): Promise<pg.Client> {
    if (this.current) return Promise.resolve(this.current)
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined))
    return this.connecting
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client(this.config)
    // an error on an idle session (the server restarted) must not end the process: the next lock makes a new session
    client.on('error', () => this.lose(client))
    try {
      await client.connect()
      // a role's or database's statement timeout does not apply here (and try-lock never waits)
      await client.query('SET statement_timeout = 0')
    } catch (err) {
      client.end().catch(() => undefined)
      throw this.translated(err, true)
    }
    this.current = client
    return client
  }

  private lose(client: pg.Client): void {
    if (this.current !== client) return
    this.current = undefined
    this.generation++
    client.end().catch(() => undefined)
  }
}
