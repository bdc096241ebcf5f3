import type { Workflow } from '../contract/workflow.js'
import type { JsonValue } from '../playbooks/schema.js'
import { shortValue } from './template.js'

/** One thing the user does after import, in the order they do it. */
export interface SetupItem {
  kind: 'setting' | 'credential' | 'step' | 'informational'
  text: string
}

/** "Set sender_email (From address…) — generated: success@company.example", one per setting. */
export function settingItems(workflow: Workflow, where: string): SetupItem[] {
  return Object.entries(workflow.settings ?? {}).map(([name, setting]) => ({
    kind: 'setting',
    text: `${where}: set \`${name}\` — ${setting.description}. Generated value: \`${shortValue(setting.value)}\``,
  }))
}

/** Config values no node of the export carries out (a send window, a reminder count): said, not pretended. */
export function informationalItem(title: string, step: Workflow['steps'][number], keys: string[]): SetupItem[] {
  if (keys.length === 0) return []
  const values = keys.map((key) => `${key}=${shortValue(step.config[key] as JsonValue)}`).join(', ')
  return [{ kind: 'informational', text: `"${title}" does not carry out ${values}: build that on the platform if you need it` }]
}

export function setupMarkdown(items: readonly SetupItem[]): string {
  return items.map((item, i) => `${i + 1}. ${item.text}`).join('\n')
}
