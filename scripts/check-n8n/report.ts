import type { CaseResult } from './verify.js'

/**
 * The report: one row per issue type, one column per behaviour the export must show on a real
 * n8n (✓ held, ✗ broken, · not checked), the problems of a broken one indented below its row,
 * and the `N passed, N failed` tally last.
 */

export const BEHAVIOURS = {
  valid: 'valid → 2xx',
  secret: 'no/wrong secret → 403',
  invalid: 'bad body → 4xx',
  lists: 'item lists',
  failure: 'step fails → 502',
  unconfigured: 'no credentials → 502',
  runtime: 'posted values used',
} as const
export type Behaviour = keyof typeof BEHAVIOURS

/** A type's outcome: the valid run's figures, and the problems found per behaviour (absent: not checked). */
export interface TypeResult {
  issueType: string
  valid: CaseResult | undefined
  behaviours: Partial<Record<Behaviour, string[]>>
}

const TYPE_WIDTH = 17
const column = (label: string, mark: string) => mark.padStart(Math.ceil(label.length / 2)).padEnd(label.length)

export function tableHeader(): string {
  return `${'type'.padEnd(TYPE_WIDTH)} ${Object.values(BEHAVIOURS).join(' | ')}`
}

export function passed(r: TypeResult): boolean {
  const checked = Object.values(r.behaviours)
  return checked.length === Object.keys(BEHAVIOURS).length && checked.every((problems) => problems.length === 0)
}

export function resultRow(r: TypeResult): string {
  const marks = (Object.entries(BEHAVIOURS) as [Behaviour, string][]).map(([key, label]) => {
    const problems = r.behaviours[key]
    return column(label, problems === undefined ? '·' : problems.length === 0 ? '✓' : '✗')
  })
  const lines = [`${r.issueType.padEnd(TYPE_WIDTH)} ${marks.join(' | ')}`]
  const v = r.valid
  if (v) {
    lines.push(`    valid run: ${v.steps} steps, processed ${v.processed === undefined ? '-' : JSON.stringify(v.processed)}, messages ${v.messages}, mails ${v.mails}, HTTP calls ${v.httpCalls}, AI calls ${v.aiCalls}, ${v.seconds.toFixed(1)} s`)
  }
  for (const [key, label] of Object.entries(BEHAVIOURS) as [Behaviour, string][]) {
    for (const problem of r.behaviours[key] ?? []) lines.push(`    - ${label}: ${problem}`)
  }
  return lines.join('\n')
}

/** A type that never got as far as a webhook call (e.g. its export failed to build). */
export function setupFailure(issueType: string, problem: string): TypeResult {
  return { issueType, valid: undefined, behaviours: { valid: [problem] } }
}

export function tally(results: TypeResult[]): string {
  const failed = results.filter((r) => !passed(r)).length
  return `${results.length - failed} passed, ${failed} failed`
}
