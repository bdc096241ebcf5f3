import { rmSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { openDatabase } from '../../src/store/database.js'
import { StoreUnavailable } from '../../src/store/sql.js'
import { SqliteDatabase } from '../../src/store/sqlite.js'
import { tempDir } from '../helpers/app.js'

let dir: string | undefined
let db: SqliteDatabase | undefined
afterEach(async () => {
  await db?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
  db = undefined
  dir = undefined
})

function open(): SqliteDatabase {
  dir = tempDir('afb-sqlite-port-')
  db = new SqliteDatabase(openDatabase(path.join(dir, 'test.db')))
  return db
}

const count = async (db: SqliteDatabase) => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM idempotency_keys'))?.n
const insertKey = (key: string) => [`INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at, expires_at) VALUES ('s', ?, 'f', 'running', 0, 1)`, [key]] as const

describe('the SQLite side of the SQL port', () => {
  it('when a transaction awaits between statements, then a statement outside it does not see its uncommitted rows', async () => {
    const db = open()
    let outside: number | undefined
    await db.transaction(async (tx) => {
      await tx.run(...insertKey('a'))
      // another request's read, started while the transaction is open: it waits for the commit
      const read = count(db).then((n) => (outside = n))
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(outside).toBeUndefined()
      void read
    })
    await new Promise((resolve) => setImmediate(resolve))
    expect(outside).toBe(1)
  })

  it('when the work throws, then nothing of it is kept and the error reaches the caller', async () => {
    const db = open()
    await expect(
      db.transaction(async (tx) => {
        await tx.run(...insertKey('b'))
        throw new Error('a later write failed')
      }),
    ).rejects.toThrow('a later write failed')
    expect(await count(db)).toBe(0)
    expect(db.raw.inTransaction).toBe(false)
  })

  it('when transactions are started together, then they run one after another, each seeing the one before', async () => {
    const db = open()
    const seen: number[] = []
    await Promise.all(
      ['c', 'd', 'e'].map((key) =>
        db.transaction(async (tx) => {
          seen.push((await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM idempotency_keys'))?.n ?? -1)
          await tx.run(...insertKey(key))
        }),
      ),
    )
    expect(seen).toEqual([0, 1, 2])
    expect(await count(db)).toBe(3)
  })

  it('when two callers take one lock, then the second runs only after the first has finished, also when the first throws', async () => {
    const db = open()
    const events: string[] = []
    const first = db.withLock('commit:main', async () => {
      events.push('first in')
      await new Promise((resolve) => setTimeout(resolve, 20))
      events.push('first out')
      throw new Error('first failed')
    })
    const second = db.withLock('commit:main', async () => {
      events.push('second in')
    })
    const other = db.withLock('commit:other', async () => {
      events.push('other lock in')
    })
    await expect(first).rejects.toThrow('first failed')
    await second
    await other
    expect(events).toEqual(['first in', 'other lock in', 'first out', 'second in'])
  })

  it('when another writer holds the database longer than the busy timeout, then the statement fails as StoreUnavailable (a 503), not as a bug', async () => {
    const db = open()
    db.raw.pragma('busy_timeout = 0')
    const other = new Database(db.raw.name)
    try {
      other.exec('BEGIN IMMEDIATE')
      const failed = await db.transaction(async (tx) => tx.run(...insertKey('f'))).catch((err: unknown) => err)
      expect(failed).toBeInstanceOf(StoreUnavailable)
      expect(failed).toMatchObject({ code: 'SQLITE_BUSY' })
      other.exec('ROLLBACK')
      await db.transaction(async (tx) => tx.run(...insertKey('f')))
      expect(await count(db)).toBe(1)
    } finally {
      other.close()
    }
  })
})
