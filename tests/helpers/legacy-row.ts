import type { TestApp } from './app.js'

/**
 * Turns a workflow row into one as stored before migration 11 — the record and the files
 * themselves, no generator inputs — so tests can show such rows are still served as they were.
 * `edit` may change the stored record first (e.g. drop what older versions did not have).
 */
export async function storeAsLegacyRow(t: TestApp, id: string, edit: (record: Record<string, unknown>) => void = () => {}): Promise<void> {
  const found = await t.services.store.getWithFiles(id)
  if (!found) throw new Error(`no workflow ${id}`)
  // what the columns own is not part of the stored record, as before
  const { occurrences: _o, supersedes: _s, superseded_by: _sb, dedup_key: _d, grouped: _g, commit: _c, ...record } = found.record
  edit(record)
  t.sqlite
    .prepare('UPDATE workflows SET record = ?, artifacts = ?, inputs = NULL WHERE id = ?')
    .run(JSON.stringify(record), JSON.stringify(found.files), id)
}
