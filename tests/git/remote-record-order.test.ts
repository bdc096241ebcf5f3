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
})
