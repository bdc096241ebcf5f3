import { readFileSync } from 'node:fs'
import { ConfigError } from '../config.js'
import { SEVERITIES, type Severity } from '../contract/opportunity.js'
import type { LoadedPlaybook } from '../playbooks/schema.js'

/** One detection rule in force: a playbook's metric, operator and threshold, and where the threshold came from. */
export interface DetectionRule {
  issue_type: string
  metric: string
  operator: '>' | '<'
  threshold: number
  source: 'playbook' | 'THRESHOLDS' | 'THRESHOLDS_FILE'
  range: [number, number]
  severity_bands: Partial<Record<Severity, number>>
}

/** `high_churn=0.04,error_spike=0.02` → entries, or the ConfigError naming the bad entry. */
export function parseThresholds(text: string, where: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const entry of text.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'))) {
    const [type, value, ...rest] = entry.split('=').map((s) => s.trim())
    const number = Number(value)
    if (!type || value === undefined || value === '' || rest.length > 0 || !Number.isFinite(number)) {
      throw new ConfigError(`Invalid configuration:\n  ${where}: "${entry}" is not issue_type=number (e.g. high_churn=0.04)`)
    }
    if (out.has(type)) throw new ConfigError(`Invalid configuration:\n  ${where}: ${type} is given twice`)
    out.set(type, number)
  }
  return out
}

/** THRESHOLDS_FILE holds a JSON object { "high_churn": 0.04 } (or the THRESHOLDS syntax, one entry per line). */
export function readThresholdsFile(file: string): Map<string, number> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  THRESHOLDS_FILE ${file}: ${(err as Error).message}`)
  }
  if (!text.trim().startsWith('{')) return parseThresholds(text, `THRESHOLDS_FILE ${file}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  THRESHOLDS_FILE ${file}: ${(err as Error).message}`)
  }
  const out = new Map<string, number>()
  for (const [type, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`Invalid configuration:\n  THRESHOLDS_FILE ${file}: ${type} must be a number`)
    out.set(type, value)
  }
  return out
}

/**
 * The rules in force: each playbook's detection, its threshold replaced where THRESHOLDS (which
 * wins) or THRESHOLDS_FILE says so. An override naming no playbook, or outside the metric's
 * range, stops start-up naming the entry.
 */
export function buildRules(
  playbooks: ReadonlyMap<string, LoadedPlaybook>,
  overrides: { env: Map<string, number>; file: Map<string, number> },
): DetectionRule[] {
  for (const [where, entries] of [['THRESHOLDS', overrides.env], ['THRESHOLDS_FILE', overrides.file]] as const) {
    for (const [type, value] of entries) {
      const playbook = playbooks.get(type)
      if (!playbook) throw new ConfigError(`Invalid configuration:\n  ${where}: ${type}=${value} names no playbook; the types are ${[...playbooks.keys()].join(', ')}`)
      const [min, max] = playbook.detection.range
      if (value < min || value > max) {
        throw new ConfigError(`Invalid configuration:\n  ${where}: ${type}=${value} lies outside ${playbook.detection.metric}'s range [${min}, ${max}]${max === 1 ? ' (a rate is a fraction: 0.04 for 4%)' : ''}`)
      }
    }
  }
  return [...playbooks.values()].map((p) => {
    const fromEnv = overrides.env.get(p.issueType)
    const fromFile = overrides.file.get(p.issueType)
    return {
      issue_type: p.issueType,
      metric: p.detection.metric,
      operator: p.detection.operator,
      threshold: fromEnv ?? fromFile ?? p.detection.threshold,
      source: fromEnv !== undefined ? 'THRESHOLDS' : fromFile !== undefined ? 'THRESHOLDS_FILE' : 'playbook',
      range: p.detection.range,
      severity_bands: p.detection.severity_bands,
    }
  })
}

export interface Evaluation {
  issue_type: string
  metric: string
  observed: number
  operator: '>' | '<'
  threshold: number
  breached: boolean
  severity: Severity | null
  /** how far beyond the threshold, in the breach direction (negative: not breached) */
  margin: number
}

/** PURE: one rule against one observed value. A breach is strict (churn 0.05 > 0.05 is no breach). */
export function evaluate(rule: DetectionRule, observed: number): Evaluation {
  const beyond = (value: number, start: number) => (rule.operator === '>' ? value >= start : value <= start)
  const breached = rule.operator === '>' ? observed > rule.threshold : observed < rule.threshold
  let severity: Severity | null = null
  if (breached) {
    severity = 'medium'
    const declared = SEVERITIES.filter((s) => rule.severity_bands[s] !== undefined)
    if (declared.length > 0) severity = declared[0] as Severity
    for (const s of declared) if (beyond(observed, rule.severity_bands[s] as number)) severity = s
  }
  const margin = rule.operator === '>' ? observed - rule.threshold : rule.threshold - observed
  return { issue_type: rule.issue_type, metric: rule.metric, observed, operator: rule.operator, threshold: rule.threshold, breached, severity, margin: Number(margin.toPrecision(12)) }
}
