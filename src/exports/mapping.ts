import { readFileSync } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { STEP_ACTIONS, type JsonValue, type LoadedPlaybook, type StepAction } from '../playbooks/schema.js'
import { JsonValue as JsonValueSchema } from '../playbooks/schema.js'

/**
 * Platform mappings are data: `templates/platforms/<platform>/<action>.json` says which node
 * (n8n), module (Make) or app event (Zapier) carries out an action, with its parameters as a
 * template. Inside template strings:
 *   {{config.KEY}}  the step's config value (its `{{field}}` reads become platform references)
 *   {{body}}        the whole config but `endpoint`, as a JSON request body
 *   {{prompt}}      the prompt template, its variables wired to their sources, each as <data>JSON</data>
 *   {{prompt.system}} the system message that says the <data> blocks are data, never instructions
 *   {{ref:N:PATH}}  a reference to PATH in the output of node N of this same entry
 *   {{step.title}}, {{step.description}}, {{workflow.name}}
 */
export const PLATFORMS = ['n8n', 'make', 'zapier'] as const
export type Platform = (typeof PLATFORMS)[number]

export const MAPPING_PLACEHOLDER = /\{\{(config\.[a-z0-9_]+|body|prompt\.system|prompt|ref:\d+:[A-Za-z0-9_.[\]{}]+|step\.title|step\.description|workflow\.name)\}\}/g

const Output = z
  .strictObject({
    node: z.number().int().min(0).optional().describe('which node of the entry produces the fields; default: the last'),
    path: z.string().min(1).optional().describe('where a field sits in that node\'s output; "{field}" stands for its name; default: "{field}"'),
  })
  .default({})

const Setup = z.array(z.string().min(1)).default([]).describe('Steps the user takes after import, e.g. choosing a credential')
const Ignores = z
  .array(z.string().regex(/^[a-z][a-z0-9_]*$/))
  .default([])
  .describe('config keys this platform deliberately does not use (e.g. the HTTP endpoint of a query n8n runs natively)')

const N8nNode = z.strictObject({
  type: z.string().regex(/^[@a-zA-Z0-9/._-]+\.[a-zA-Z0-9]+$/, 'an n8n node type such as n8n-nodes-base.emailSend'),
  typeVersion: z.number().positive(),
  parameters: z.record(z.string(), JsonValueSchema),
  suffix: z.string().default('').describe('added to the step title to name this node when an entry has several'),
  credential: z
    .strictObject({ type: z.string().min(1), label: z.string().min(1) })
    .optional()
    .describe('the credential type the node needs; never embedded, listed in the setup'),
  evidence: z
    .array(z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/))
    .default([])
    .describe(
      'paths its output has only when the node really ran (beside the fields the step produces): a node whose credential is missing passes its input on and n8n calls that a success',
    ),
})

const MakeModule = z.strictObject({
  module: z.string().regex(/^[a-z][a-z0-9-]*:[A-Za-z0-9]+$/, 'a Make module identifier such as http:MakeRequest'),
  version: z.number().int().min(1),
  parameters: z.record(z.string(), JsonValueSchema).default({}),
  mapper: z.record(z.string(), JsonValueSchema).nullable(),
  connection: z.string().min(1).optional().describe('the connection the module needs; never embedded, listed in the setup'),
})

const ZapierAction = z.strictObject({
  app: z.string().min(1),
  event: z.string().min(1),
  fields: z.record(z.string(), z.string()),
})

export const N8nMapping = z.strictObject({ nodes: z.array(N8nNode).min(1), output: Output, setup: Setup, ignores: Ignores })
export const MakeMapping = z.strictObject({ modules: z.array(MakeModule).min(1), output: Output, setup: Setup, ignores: Ignores })
export const ZapierMapping = z.strictObject({ actions: z.array(ZapierAction).min(1), output: Output, setup: Setup, ignores: Ignores })
export type N8nMapping = z.infer<typeof N8nMapping>
export type MakeMapping = z.infer<typeof MakeMapping>
export type ZapierMapping = z.infer<typeof ZapierMapping>

const SCHEMAS = { n8n: N8nMapping, make: MakeMapping, zapier: ZapierMapping } as const

export interface PlatformMappings {
  n8n: Record<StepAction, N8nMapping>
  make: Record<StepAction, MakeMapping>
  zapier: Record<StepAction, ZapierMapping>
}

export class MappingError extends Error {
  override name = 'MappingError'
}

/** The `{{config.KEY}}` keys a template reads, so start-up can check each playbook step has them. */
export function configKeysUsed(template: JsonValue, found = new Set<string>()): Set<string> {
  if (typeof template === 'string') {
    for (const m of template.matchAll(MAPPING_PLACEHOLDER)) {
      const token = m[1] as string
      if (token.startsWith('config.')) found.add(token.slice('config.'.length))
    }
  } else if (Array.isArray(template)) {
    for (const item of template) configKeysUsed(item, found)
  } else if (template !== null && typeof template === 'object') {
    for (const item of Object.values(template)) configKeysUsed(item, found)
  }
  return found
}

function readMapping<P extends Platform>(dir: string, platform: P, action: StepAction): z.infer<(typeof SCHEMAS)[P]> {
  const file = path.join(dir, platform, `${action}.json`)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw new MappingError(missing ? `${file}: missing — every action needs a mapping for the ${platform} export` : `${file}: ${(err as Error).message}`)
  }
  const parsed = SCHEMAS[platform].safeParse(raw)
  if (!parsed.success) {
    throw new MappingError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  }
  return parsed.data as z.infer<(typeof SCHEMAS)[P]>
}

function templateOf(platform: Platform, mapping: N8nMapping | MakeMapping | ZapierMapping): JsonValue {
  if (platform === 'n8n') return (mapping as N8nMapping).nodes.map((n) => n.parameters)
  if (platform === 'make') return (mapping as MakeMapping).modules.map((m) => [m.parameters, m.mapper])
  return (mapping as ZapierMapping).actions.map((a) => a.fields)
}

/** Per loaded mapping: whether it sends the whole config as the body, else the keys it carries out. */
const carriedByMapping = new WeakMap<object, ReadonlySet<string> | 'body'>()

/** Config keys a mapping carries out: those it reads, all of them when it sends the body, and those it says it ignores. */
export function configKeysCarried(platform: Platform, mapping: N8nMapping | MakeMapping | ZapierMapping, config: Record<string, JsonValue>): ReadonlySet<string> {
  let carried = carriedByMapping.get(mapping)
  if (carried === undefined) {
    const template = templateOf(platform, mapping)
    carried = JSON.stringify(template).includes('{{body}}') ? 'body' : new Set([...configKeysUsed(template), ...mapping.ignores, 'variables', 'prompt_template'])
    carriedByMapping.set(mapping, carried)
  }
  return carried === 'body' ? new Set(Object.keys(config)) : carried
}

/**
 * Loads every platform's mapping of every action and checks it against the playbooks: a step
 * whose config lacks a key its mapping reads stops start-up, naming both files.
 */
export function loadPlatformMappings(templatesDir: string, playbooks: ReadonlyMap<string, LoadedPlaybook>): PlatformMappings {
  const dir = path.join(templatesDir, 'platforms')
  const load = <P extends Platform>(platform: P) =>
    Object.fromEntries(STEP_ACTIONS.map((action) => [action, readMapping(dir, platform, action)])) as Record<StepAction, z.infer<(typeof SCHEMAS)[P]>>
  const mappings: PlatformMappings = { n8n: load('n8n'), make: load('make'), zapier: load('zapier') }
  for (const playbook of playbooks.values()) {
    playbook.steps.forEach((step, index) => {
      for (const platform of PLATFORMS) {
        for (const key of configKeysUsed(templateOf(platform, mappings[platform][step.action]))) {
          if (!Object.hasOwn(step.config, key)) {
            throw new MappingError(
              `${path.join(templatesDir, playbook.issueType, 'playbook.json')}: steps.${index}.config.${key} is missing; ` +
                `${path.join(dir, platform, `${step.action}.json`)} reads it`,
            )
          }
        }
      }
    })
  }
  return mappings
}
