import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { sampleOpportunity, type TestApp } from '../helpers/app.js'
import { clusters, outside } from '../helpers/cluster.js'
import { revParse } from '../helpers/remote.js'

/**
 * Two instances commit workflows of one type (the same paths) to one remote branch: the later
 * push is what the branch holds, so it must be the workflow recorded as committed, and the
 * earlier one superseded — whichever instance gets to its database write first.
 */

const cluster = clusters()

describe('recording commits made through one remote', () => {
  it('when the first instance is slow to record its pushed commit, then the second waits for it, and the later commit is the one recorded as live', async () => {
    const {
      apps: [a, b],
      url,
      bare,
    } = await cluster.start(2)
    const detect = async (app: TestApp) => (await app.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id as string
    const [first, second] = [await detect(a!), await detect(b!)]
    // recording `first` as committed takes a second: long after its push
    await outside(url, (client) =>
      client.query(`CREATE FUNCTION slow_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
       CREATE TRIGGER slow_record BEFORE UPDATE ON workflows FOR EACH ROW
         WHEN (NEW.status = 'committed' AND OLD.status <> 'committed' AND NEW.id = '${first}') EXECUTE FUNCTION slow_record();`),
    )
    const headBefore = await revParse(bare, 'refs/heads/main')
    const commit = (app: TestApp, id: string) => app.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })

    const firstCommit = commit(a!, first)
    while ((await revParse(bare, 'refs/heads/main')) === headBefore) await sleep(10) // pushed, not yet recorded
    const secondCommit = commit(b!, second)
    const [one, two] = await Promise.all([firstCommit, secondCommit])

    expect([one.statusCode, two.statusCode]).toEqual([201, 201])
    expect(two.json().commit.parent).toBe(one.json().commit.sha)
    expect(await revParse(bare, 'refs/heads/main')).toBe(two.json().commit.sha)
    expect(two.json().replaces).toMatchObject({ workflow_id: first })
    expect((await a!.app.inject(`/workflows/${second}`)).json()).toMatchObject({ status: 'committed' })
    expect((await a!.app.inject(`/workflows/${first}`)).json()).toMatchObject({ status: 'superseded', superseded_by: second })
  })

  it('when the commit lock is lost between the push and the record, then nothing is recorded (a 503), and the retry records the pushed commit', async () => {
    const {
      apps: [a],
      url,
      bare,
    } = await cluster.start(1)
    const id = (await a!.app.inject({ method: 'POST', url: '/issues', payload: sampleOpportunity })).json().workflow_id as string
    await outside(url, (client) =>
      client.query(`CREATE FUNCTION slow_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
       CREATE TRIGGER slow_record BEFORE UPDATE ON workflows FOR EACH ROW
         WHEN (NEW.status = 'committed' AND OLD.status <> 'committed') EXECUTE FUNCTION slow_record();`),
    )
    const headBefore = await revParse(bare, 'refs/heads/main')

    const committing = a!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    while ((await revParse(bare, 'refs/heads/main')) === headBefore) await sleep(10) // pushed, now being recorded
    await outside(url, async (client) => {
      const holders = await client.query("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
      expect(holders.rowCount).toBe(1)
      await client.query('SELECT pg_terminate_backend($1)', [holders.rows[0].pid])
    })
    const res = await committing

    expect(res.statusCode).toBe(503)
    expect(res.json()).toMatchObject({ type: 'urn:auto-feature-builder:problem:store-unavailable' })
    const pushed = await revParse(bare, 'refs/heads/main')
    // the answer must not say nothing changed: the commit is on the remote
    expect(res.json().detail).toBe(`The commit ${pushed} is on origin/main, but the database could not record it (lock-lost). Retry the commit: it finds the commit there and records it.`)
    expect((await a!.app.inject(`/workflows/${id}`)).json().status).toBe('generated')
    expect(pushed).not.toBe(headBefore)

    await outside(url, (client) => client.query('DROP TRIGGER slow_record ON workflows'))
    const retry = await a!.app.inject({ method: 'POST', url: '/commits', payload: { workflow_id: id, dry_run: false } })
    expect(retry.statusCode).toBe(200)
    expect(retry.json()).toMatchObject({ status: 'unchanged', head: pushed })
    expect((await a!.app.inject(`/workflows/${id}`)).json()).toMatchObject({ status: 'committed', commit: { sha: pushed } })
  })
})
