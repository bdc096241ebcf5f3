import type { PromptTemplate } from '../contract/workflow.js'
import type { VariableType } from '../playbooks/schema.js'
import { dataBlock, PROMPT_SYSTEM_MESSAGE } from './prompt-data.js'

export interface VariableFault {
  variable: string
  message: string
}

const TYPE_CHECKS: Record<VariableType, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  int: (v) => typeof v === 'number' && Number.isSafeInteger(v),
  float: (v) => typeof v === 'number' && Number.isFinite(v),
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number' && !Number.isInteger(value)) return 'non-integer number'
  return typeof value
}

/**
 * PURE: fills `{{name}}` placeholders, each value marked as data (`<data>JSON</data>`), and gives the
 * system message that says so. Every declared variable must be given with its type and nothing else
 * may be; all faults are reported at once. No HTML escaping: the output is a prompt.
 */
export function renderPrompt(
  prompt: PromptTemplate,
  values: Record<string, unknown>,
): { ok: true; rendered: string; system: string } | { ok: false; faults: VariableFault[] } {
  const faults: VariableFault[] = []
  for (const [name, type] of Object.entries(prompt.variables)) {
    if (!Object.hasOwn(values, name)) faults.push({ variable: name, message: `missing; expected ${type}` })
    else if (!TYPE_CHECKS[type](values[name])) faults.push({ variable: name, message: `expected ${type}, got ${describe(values[name])}` })
  }
  const declared = Object.keys(prompt.variables).join(', ')
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(prompt.variables, name)) faults.push({ variable: name, message: `unknown variable; the template declares ${declared}` })
  }
  if (faults.length > 0) return { ok: false, faults }
  // A function replacement, so "$&" and friends in a value are inserted literally; each value as data (src/generate/prompt-data.ts)
  const rendered = prompt.template.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (whole, name: string) =>
    Object.hasOwn(values, name) ? dataBlock(values[name]) : whole,
  )
  return { ok: true, rendered, system: PROMPT_SYSTEM_MESSAGE }
}
