import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { dataFlowFaults } from './data-flow.js'
import { Playbook, type LoadedPlaybook } from './schema.js'

/** Folder names double as issue types and as parts of file names in the target repository. */
export const ISSUE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/
/** `templates/platforms/` holds the export mappings, so it is no issue type. */
export const PLATFORMS_FOLDER = 'platforms'
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g

export class PlaybookError extends Error {
  override name = 'PlaybookError'
}

/** Every `{{name}}` used in a prompt template, in order of first use. */
export function templateVariables(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))]
}

function readPlaybook(dir: string, issueType: string): LoadedPlaybook {
  const playbookFile = path.join(dir, 'playbook.json')
  const promptFile = path.join(dir, 'prompt.txt')
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(playbookFile, 'utf8'))
  } catch (err) {
    throw new PlaybookError(`${playbookFile}: ${(err as Error).message}`)
  }
  const parsed = Playbook.safeParse(raw)
  if (!parsed.success) {
    const faults = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    throw new PlaybookError(`${playbookFile}: ${faults.join('; ')}`)
  }
  let promptTemplate: string
  try {
    promptTemplate = readFileSync(promptFile, 'utf8')
  } catch (err) {
    throw new PlaybookError(`${promptFile}: ${(err as Error).message}`)
  }
  const declared = Object.keys(parsed.data.prompt.variables)
  const used = templateVariables(promptTemplate)
  const undeclared = used.filter((v) => !declared.includes(v))
  const unused = declared.filter((v) => !used.includes(v))
  if (undeclared.length > 0) throw new PlaybookError(`${promptFile}: uses undeclared variables ${undeclared.join(', ')}`)
  if (unused.length > 0) throw new PlaybookError(`${promptFile}: never uses declared variables ${unused.join(', ')}`)
  const flowFaults = dataFlowFaults(parsed.data, declared)
  if (flowFaults.length > 0) throw new PlaybookError(`${playbookFile}: ${flowFaults.join('; ')}`)
  return { ...parsed.data, issueType, promptTemplate }
}

/**
 * Loads every `templates/<issue_type>/` folder. Any fault stops start-up with a message naming
 * the file and what is wrong, so a broken template never serves half a catalogue.
 */
export function loadPlaybooks(templatesDir: string): Map<string, LoadedPlaybook> {
  let entries: string[]
  try {
    entries = readdirSync(templatesDir).sort()
  } catch (err) {
    throw new PlaybookError(`${templatesDir}: ${(err as Error).message}`)
  }
  const playbooks = new Map<string, LoadedPlaybook>()
  for (const entry of entries) {
    const dir = path.join(templatesDir, entry)
    if (!statSync(dir).isDirectory() || entry === PLATFORMS_FOLDER) continue
    if (!ISSUE_TYPE_PATTERN.test(entry)) {
      throw new PlaybookError(`${dir}: folder name must match ${ISSUE_TYPE_PATTERN} (it becomes the issue_type)`)
    }
    playbooks.set(entry, readPlaybook(dir, entry))
  }
  if (playbooks.size === 0) throw new PlaybookError(`${templatesDir}: no playbook folders found`)
  return playbooks
}
