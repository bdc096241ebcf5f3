import type { JsonValue, PlaybookFile } from './schema.js'

/**
 * The data flow of a playbook: which fields each step reads (`{{field}}` inside its config)
 * and which it produces. Exports wire these into the platforms' own expressions, so a read
 * with no producer would be a broken automation: start-up refuses it, naming the field.
 */

/** The fields of the opportunity body (the same body `POST /issues` takes) every export's trigger receives. */
export const OPPORTUNITY_FIELDS = ['issue_type', 'severity', 'description', 'metric_value', 'affected_items', 'timestamp', 'source'] as const

/** `{{field}}` inside a config string. Only snake_case names count, so a stray `{{` stays text. */
export const FIELD_REFERENCE = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g

/** Every field a JSON value reads, in order of first appearance. */
export function fieldReferences(value: JsonValue, found: string[] = []): string[] {
  if (typeof value === 'string') {
    for (const match of value.matchAll(FIELD_REFERENCE)) {
      const name = match[1] as string
      if (!found.includes(name)) found.push(name)
    }
  } else if (Array.isArray(value)) {
    for (const item of value) fieldReferences(item, found)
  } else if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) fieldReferences(item, found)
  }
  return found
}

/** Where a field comes from: the trigger, the settings, or step n (1-based). */
export type FieldSource = { kind: 'opportunity' } | { kind: 'setting' } | { kind: 'step'; step: number; list: boolean }

/**
 * PURE: every fault of the playbook's data flow, as `path: message` lines (empty when sound).
 * `promptVariables` are the template's variables: the AI step must give each one a source.
 */
export function dataFlowFaults(playbook: Pick<PlaybookFile, 'settings' | 'steps'>, promptVariables: readonly string[]): string[] {
  const faults: string[] = []
  const sources = new Map<string, FieldSource>()
  for (const name of OPPORTUNITY_FIELDS) sources.set(name, { kind: 'opportunity' })
  for (const name of Object.keys(playbook.settings)) {
    if (sources.has(name)) faults.push(`settings.${name}: the opportunity already has a field ${name}; choose another name`)
    sources.set(name, { kind: 'setting' })
  }
  const read = new Set<string>()
  let lists = 0
  playbook.steps.forEach((step, index) => {
    const at = `steps.${index}`
    for (const [key, value] of Object.entries(step.config)) {
      for (const name of fieldReferences(value)) {
        read.add(name)
        if (!sources.has(name)) {
          faults.push(`${at}.config.${key}: reads {{${name}}}, which neither the opportunity, a setting nor an earlier step produces`)
        }
      }
    }
    if (step.action === 'generate_ai_message') faults.push(...promptSourceFaults(step.config, at, promptVariables, step.produces?.fields))
    for (const name of step.produces?.fields ?? []) {
      if (sources.has(name)) faults.push(`${at}.produces.fields: ${name} is already a field; every field has one producer`)
      sources.set(name, { kind: 'step', step: index + 1, list: step.produces?.list ?? false })
    }
    if (step.produces?.list) lists += 1
  })
  if (lists > 1) faults.push('steps: only one step may produce a list (the exports run one pass over its items)')
  for (const name of Object.keys(playbook.settings)) {
    if (!read.has(name)) faults.push(`settings.${name}: no step reads it; remove it or use it as {{${name}}}`)
  }
  return faults
}

function promptSourceFaults(config: Record<string, JsonValue>, at: string, promptVariables: readonly string[], produces: string[] | undefined): string[] {
  const faults: string[] = []
  const variables = config['variables']
  if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) {
    return [`${at}.config.variables: must map each prompt variable (${promptVariables.join(', ')}) to its source, e.g. "{{customer_name}}"`]
  }
  for (const name of promptVariables) {
    if (!Object.hasOwn(variables, name)) faults.push(`${at}.config.variables: gives no source for the prompt variable ${name}`)
  }
  for (const name of Object.keys(variables)) {
    if (!promptVariables.includes(name)) faults.push(`${at}.config.variables.${name}: the prompt template has no variable ${name}`)
  }
  if (produces?.length !== 1) faults.push(`${at}.produces: the AI step produces exactly one field, the message`)
  return faults
}
