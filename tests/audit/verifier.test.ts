import { afterEach, describe, expect, it } from 'vitest'
import { AuditVerifier } from '../../src/audit/verifier.js'
import { openPostgres } from '../../src/store/postgres.js'
import { migratePostgres } from '../../src/store/postgres-migrate.js'
import { StoreUnavailable } from '../../src/store/sql.js'
import { reachable } from '../helpers/cluster.js'
import { freshPostgres, type FreshPostgres } from '../helpers/postgres.js'

/** The verifier thread has a connection of its own: a database it cannot reach is the store being unavailable (503), not a 500. */

const verifiers: AuditVerifier[] = []
const databases: FreshPostgres[] = []
afterEach(async () => {
  for (const verifier of verifiers.splice(0)) await verifier.close()
  for (const database of databases.splice(0)) await database.drop()
})

describe('the audit verifier thread', () => {
  it('when its database refuses connections, then each verify fails as StoreUnavailable, and verifies work again once it accepts them', async () => {
    const database = await freshPostgres()
    databases.push(database)
    const db = await openPostgres(database.url, { poolSize: 1, statementTimeoutMs: 5_000 })
    await migratePostgres(db)
    await db.close()
    const verifier = new AuditVerifier({ store: { kind: 'postgres', url: database.url }, publicKeyPem: undefined, checkpointFile: undefined })
    verifiers.push(verifier)

    await reachable(database.url, false)
    for (let i = 0; i < 2; i++) {
      const failure = await verifier.verify({ full: true }).catch((err: unknown) => err)
      expect(failure).toBeInstanceOf(StoreUnavailable) // a plain Error here is a 500
      expect((failure as Error).message).toMatch(/^audit verify failed: .*not currently accepting connections/)
    }
    await reachable(database.url, true)
    expect(await verifier.verify({ full: true })).toMatchObject({ ok: true, entries: 0 })
  })
})
