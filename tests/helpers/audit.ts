import Database from 'better-sqlite3'

/** Runs `fn` on a second, plain connection to the service database: what someone with the file can do. */
export function withSql<T>(file: string, fn: (sql: Database.Database) => T): T {
  const sql = new Database(file)
  try {
    return fn(sql)
  } finally {
    sql.close()
  }
}
