/**
 * A checker for Make scenario blueprints, written from the rules Make publishes with its
 * blueprint collection (integromat/make-blueprints: scripts/validate.mjs and CONTRIBUTING.md),
 * plus what that script leaves out: references inside functions, references to modules that
 * run later or on another route, and the account-bound keys real exports carry (`account`).
 * PURE: a blueprint in, every fault out (empty when it passes).
 */

const ALLOWED_TOP_LEVEL = ['name', 'description', 'flow', 'metadata']
const MODULE_ID = /^[a-z][a-z0-9-]*:[A-Za-z0-9]+$/
/** Account-bound bindings an import cannot create: the user attaches them after import. */
const FORBIDDEN_PARAMETERS = [
  '__IMTCONN__',
  '__IMTKEY__',
  '__IMTHOOK__',
  'hook',
  'account',
  'datastore',
  'agent',
  'apiKeyKeychain',
  'basicAuthKeychain',
  'oAuthAccount',
  'proxyKeychain',
  'bodyDataStructure',
  'makeConnectionId',
]
/** Exporter-only metadata a published blueprint leaves out. */
const FORBIDDEN_MODULE_METADATA = ['restore', 'expect', 'interface', 'parameters', 'advanced']
/** An e-mail address outside the reserved example domains (RFC 2606), or a credential-looking value. */
const SECRETS: [RegExp, string][] = [
  [/[A-Za-z0-9._%+-]+@(?!(?:[A-Za-z0-9-]+\.)*example(?:\.(?:com|org|net))?\b)[A-Za-z0-9.-]+\.[A-Za-z]{2,}/, 'an e-mail address outside the example domains'],
  [/(?:api[_-]?key|bearer|token)["\s:=]+[A-Za-z0-9_-]{20,}/i, 'a credential-looking string'],
]

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Module = { [key: string]: Json }

const isObject = (value: unknown): value is { [key: string]: Json } => value !== null && typeof value === 'object' && !Array.isArray(value)

/** Every IML expression (`{{…}}`) in a value, with the module ids it reads. */
function referencedIds(value: Json): number[] {
  const ids: number[] = []
  const text = JSON.stringify(value)
  for (const [expression] of text.matchAll(/\{\{.*?\}\}/g)) {
    // 3.email, `3`.x, {{3}} — a module id is a number not preceded by a word character or a dot
    for (const m of expression.matchAll(/(?<![\w.`])`?(\d+)`?(?=[.}`\s;)\]])/g)) ids.push(Number(m[1]))
  }
  return ids
}

interface Walked {
  module: Module
  where: string
  /** ids of the modules that run before this one on its path */
  before: Set<number>
  first: boolean
}

function walk(flow: Json, where: string, before: Set<number>, faults: string[], out: Walked[], topLevel: boolean): void {
  if (!Array.isArray(flow) || flow.length === 0) {
    faults.push(`${where}: must be a non-empty array of modules`)
    return
  }
  const upstream = new Set(before)
  flow.forEach((item, index) => {
    const at = `${where}[${index}]`
    if (!isObject(item)) {
      faults.push(`${at}: must be a module object`)
      return
    }
    out.push({ module: item, where: at, before: new Set(upstream), first: topLevel && index === 0 })
    if (typeof item.id === 'number') upstream.add(item.id)
    if (Array.isArray(item.routes)) {
      item.routes.forEach((route, r) => walk(isObject(route) ? (route.flow ?? null) : null, `${at}.routes[${r}].flow`, upstream, faults, out, false))
    }
    if (Array.isArray(item.onerror)) walk(item.onerror, `${at}.onerror`, upstream, faults, out, false)
  })
}

function checkModule({ module: m, where, before, first }: Walked, allIds: Set<number>, faults: string[]): void {
  const fault = (message: string) => faults.push(`${where} (id ${String(m.id)}): ${message}`)
  if (!Number.isInteger(m.id) || (m.id as number) < 1) fault('id must be an integer >= 1')
  if (typeof m.module !== 'string' || !MODULE_ID.test(m.module)) fault(`invalid module identifier ${JSON.stringify(m.module)}`)
  if (m.module === 'placeholder:Placeholder') fault('placeholder:Placeholder is not a real module')
  if (!Number.isInteger(m.version) || (m.version as number) < 1) fault('version must be a positive integer')
  if (isObject(m.parameters)) {
    for (const key of FORBIDDEN_PARAMETERS) if (key in m.parameters) fault(`parameters.${key} is account-bound: leave it out, the user attaches it after import`)
  }
  const designer = isObject(m.metadata) ? m.metadata.designer : undefined
  if (!isObject(designer) || typeof designer.x !== 'number' || typeof designer.y !== 'number') fault('metadata.designer.x/y coordinates are required')
  if (isObject(m.metadata)) {
    for (const key of FORBIDDEN_MODULE_METADATA) if (key in m.metadata) fault(`metadata.${key} is exporter-only`)
  }
  if (first && m.filter) fault('the first module of a scenario must not have a filter')
  if (m.module === 'builtin:BasicRouter') {
    if (m.mapper !== null) fault('a router has mapper null')
    if (!Array.isArray(m.routes) || m.routes.length === 0) fault('a router must have routes')
    if (m.filter) fault('a router carries no filter: put it on the first module of the route')
  }
  if (m.module === 'builtin:BasicAggregator') {
    const feeder = isObject(m.parameters) ? m.parameters.feeder : undefined
    if (!Number.isInteger(feeder)) fault('an aggregator needs parameters.feeder, the id of the module that opened the loop')
    else if (!before.has(feeder as number)) fault(`aggregator feeder ${String(feeder)} is not a module that runs before it`)
  }
  for (const part of ['parameters', 'mapper', 'filter'] as const) {
    for (const id of referencedIds(m[part] ?? null)) {
      if (!allIds.has(id)) fault(`${part} reads module ${id}, which does not exist`)
      else if (!before.has(id)) fault(`${part} reads module ${id}, which does not run before it on this path`)
    }
  }
}

export function checkMakeBlueprint(blueprint: unknown): string[] {
  const faults: string[] = []
  if (!isObject(blueprint)) return ['the blueprint must be a JSON object']
  for (const key of Object.keys(blueprint)) if (!ALLOWED_TOP_LEVEL.includes(key)) faults.push(`unexpected top-level key "${key}"`)
  if (typeof blueprint.name !== 'string' || blueprint.name.length < 1 || blueprint.name.length > 120) faults.push('name must be a 1-120 character string')
  const metadata = blueprint.metadata
  if (!isObject(metadata) || metadata.version !== 1) faults.push('metadata.version must be 1')
  if (!isObject(metadata) || !isObject(metadata.scenario)) faults.push('metadata.scenario is required')
  if (!isObject(metadata) || !isObject(metadata.designer) || !Array.isArray(metadata.designer.orphans)) faults.push('metadata.designer.orphans is required')

  const walked: Walked[] = []
  walk(blueprint.flow ?? null, 'flow', new Set(), faults, walked, true)
  const allIds = new Set<number>()
  for (const { module, where } of walked) {
    if (typeof module.id !== 'number') continue
    if (allIds.has(module.id)) faults.push(`${where}: duplicate module id ${module.id}`)
    allIds.add(module.id)
  }
  for (const entry of walked) checkModule(entry, allIds, faults)

  const text = JSON.stringify(blueprint)
  for (const [pattern, what] of SECRETS) if (pattern.test(text)) faults.push(`contains ${what}: ${text.match(pattern)?.[0] ?? ''}`)
  return faults
}
