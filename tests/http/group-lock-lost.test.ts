import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { sampleOpportunity } from '../helpers/app.js'
import { clusters, outside } from '../helpers/cluster.js'

/**
 * A detection decides "group or create" under its group's advisory lock and commits under it.
 * PostgreSQL drops the lock with the session holding it: if that session ends before the commit,
 * another instance may decide for the same group meanwhile, so the request must not commit.
 */

const cluster = clusters()

describe('a group lock lost before the commit', () => {
  it('when the session holding it ends while the detection is being written, then 503 store-unavailable, nothing stored, and the retry makes the workflow', async () => {
    const {
      apps: [t],
      url,
    } = await cluster.start(1, { GROUP_WINDOW: '24h' })
    // every workflow insert takes a while, so the test can end the lock's session in the middle of the write
    await outside(url, (client) =>
      client.query(`
        CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$;
        CREATE TRIGGER slow_insert BEFORE INSERT ON workflows FOR EACH ROW EXECUTE FUNCTION slow_insert();`),
    )
    const detection = { ...sampleOpportunity, dedup_key: 'acme' }

    const answer = t!.app.inject({ method: 'POST', url: '/issues', payload: detection })
    await outside(url, async (client) => {
      // the insert is sleeping in its trigger: the group lock is held on the instance's lock session
      for (;;) {
        const sleeping = await client.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'INSERT INTO workflows%' AND state = 'active'")
        if (sleeping.rowCount) break
        await sleep(10)
      }
      const holders = await client.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
      expect(holders.rowCount).toBe(1)
      await client.query('SELECT pg_terminate_backend($1)', [holders.rows[0].pid])
    })
    const res = await answer

    expect(res.statusCode).toBe(503)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:store-unavailable' })
    expect(res.json().detail).toContain('lock-lost')
    const stored = await outside(url, (client) => client.query('SELECT count(*)::int AS n FROM workflows'))
    expect(stored.rows[0].n).toBe(0)
    // a lost lock is no sign the store refuses writes
    expect((await t!.app.inject('/readyz')).statusCode).toBe(200)

    const retry = await t!.app.inject({ method: 'POST', url: '/issues', payload: detection })
    expect(retry.statusCode).toBe(201)
    expect((await outside(url, (client) => client.query('SELECT count(*)::int AS n FROM workflows'))).rows[0].n).toBe(1)
    // the refused request is audited all the same, and the chain verifies
    const verify = await t!.app.inject('/audit/verify')
    expect(verify.json()).toMatchObject({ ok: true })
  })
})
