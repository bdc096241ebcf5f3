/** What an operation reads of the repository besides its status and objects: one git process each. */
import { GitCommandError, type Git } from './open.js'

export interface TreeEntry {
  mode: string
  blob: string
}

/** What one read of the repository's configuration tells an operation (`git config --get-regexp`, one process). */
export interface RepositoryConfig {
  /** the filter drivers configured (clean, smudge, process) */
  drivers: string[]
  /** core.hooksPath, if set */
  hooksPath: string | undefined
  /** i18n.commitEncoding, if set */
  commitEncoding: string | undefined
}

/** What `commit` holds at each of `paths` that it has (start-up recovery and rollback, which are rare: one `ls-tree`). */
export async function readTreeEntries(git: Git, commit: string, paths: string[]): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>()
  for (const line of (await git.raw(['ls-tree', '-z', commit, '--', ...paths])).split('\0').filter(Boolean)) {
    const [meta, file] = line.split('\t')
    const [mode, , blob] = meta?.split(' ') ?? []
    if (file && mode && blob) entries.set(file, { mode, blob })
  }
  return entries
}

/**
 * The filter driver each path's `filter` attribute names, from the attributes git applies in
 * this work tree (.gitattributes, info/attributes, core.attributesFile). `set`, `unset` and
 * `unspecified` name no driver. Reading attributes runs nothing.
 */
export async function readFilterAttributes(git: Git, paths: string[]): Promise<Map<string, string>> {
  const fields = (await git.raw(['check-attr', '-z', 'filter', '--', ...paths])).split('\0')
  const drivers = new Map<string, string>()
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const [file, , value] = [fields[i], fields[i + 1], fields[i + 2]]
    if (file && value && !['set', 'unset', 'unspecified'].includes(value)) drivers.set(file, value)
  }
  return drivers
}

/**
 * The configuration an operation needs, read afresh each time in one process: a person, or a
 * hook, may change it while the service runs. The filter drivers (clean, smudge, process),
 * core.hooksPath and i18n.commitEncoding.
 */
export async function readRepositoryConfig(git: Git): Promise<RepositoryConfig> {
  let out = ''
  try {
    out = await git.raw(['config', '-z', '--get-regexp', '^(filter\\.|core\\.hookspath$|i18n\\.commitencoding$)'])
  } catch (err) {
    if (!(err instanceof GitCommandError && err.exitCode === 1)) throw err // 1: none of them is set
  }
  const config: RepositoryConfig = { drivers: [], hooksPath: undefined, commitEncoding: undefined }
  const drivers = new Set<string>()
  for (const item of out.split('\0').filter(Boolean)) {
    const newline = item.indexOf('\n')
    const key = newline < 0 ? item : item.slice(0, newline)
    const value = newline < 0 ? undefined : item.slice(newline + 1)
    const driver = /^filter\.(.+)\.[^.]+$/s.exec(key)?.[1]
    if (driver) drivers.add(driver)
    else if (key === 'core.hookspath') config.hooksPath = value // the last one wins, as in git
    else if (key === 'i18n.commitencoding') config.commitEncoding = value
  }
  config.drivers = [...drivers]
  return config
}
