import { SEVERITIES } from '../contract/opportunity.js'
import { DECIMAL, PERCENT } from '../contract/numbers.js'
import { SEVERITY_PROFILES, type SeverityProfile } from '../generate/severity.js'

/**
 * The check an export's first node makes of the webhook's body before anything runs: it accepts
 * what POST /issues accepts and gives later nodes one normalised opportunity (a list is always an
 * array), or says which field is wrong. It runs inside the automation platform, so it is
 * JavaScript source: the n8n export embeds this very text in its Code node, and the unit tests
 * evaluate the same text. Plain JavaScript with no imports and no template literals (the text sits
 * in a JSON file and in a Code node as it is).
 */
export const CHECK_OPPORTUNITY_JS = String.raw`function checkOpportunity(body, rules) {
  const reject = (status, field, error) => ({ valid: false, status, field, error })
  const show = (value) => (value === undefined ? 'nothing' : JSON.stringify(value))
  const decimal = new RegExp(rules.decimalPattern)
  const decimalText = (value) => typeof value === 'string' && value.length <= 64 && decimal.test(value.trim())
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return reject(400, 'body', 'send the opportunity as a JSON object or a form')
  // a form repeats a key for a list; some senders name it "affected_items[]"
  const field = (name) => (Object.prototype.hasOwnProperty.call(body, name) ? body[name] : body[name + '[]'])

  const issueType = field('issue_type')
  if (issueType !== rules.issueType) {
    const wrong = issueType === undefined || issueType === null || issueType === '' ? 'is required' : 'must be "' + rules.issueType + '" for this workflow, got ' + show(issueType)
    return reject(400, 'issue_type', 'issue_type ' + wrong)
  }

  const severityIn = field('severity')
  const severity = typeof severityIn === 'string' ? severityIn.trim().toLowerCase() : ''
  if (!Object.prototype.hasOwnProperty.call(rules.severityProfiles, severity)) {
    return reject(400, 'severity', 'severity must be one of ' + Object.keys(rules.severityProfiles).join(', ') + ', got ' + show(severityIn))
  }

  const descriptionIn = field('description')
  const description = typeof descriptionIn === 'string' ? descriptionIn.trim() : ''
  if (description === '' || description.length > 2000) return reject(400, 'description', 'description must be a non-empty text of at most 2000 characters')

  const metricIn = field('metric_value')
  const metric = typeof metricIn === 'number' ? metricIn : decimalText(metricIn) ? Number(metricIn.trim()) : NaN
  if (!Number.isFinite(metric)) {
    const percent = typeof metricIn === 'string' ? new RegExp(rules.percentPattern).exec(metricIn.trim()) : null
    const hint = percent ? 'a fraction, not a percentage: send ' + Number((Number(percent[1]) / 100).toPrecision(12)) + ' for ' + percent[1] + '%' : 'must be a number, e.g. 0.08 for a rate of 8%, got ' + show(metricIn)
    return reject(400, 'metric_value', 'metric_value is ' + hint)
  }

  // one meaning for "no items" however it is written: absent, null, "", [] and [""] alike
  const itemsIn = field('affected_items')
  let items
  if (itemsIn === undefined || itemsIn === null) items = []
  else if (typeof itemsIn === 'string') items = itemsIn.split(',')
  else if (Array.isArray(itemsIn) && itemsIn.every((item) => typeof item === 'string' || typeof item === 'number')) items = itemsIn.map(String)
  else return reject(400, 'affected_items', 'affected_items must be a list of ids: a JSON array of texts, a comma-separated text or repeated form fields')
  items = items.map((item) => item.trim()).filter((item) => item !== '')
  if (items.some((item) => item.length > 256)) return reject(400, 'affected_items', 'each entry of affected_items must be at most 256 characters')
  const maxItems = rules.maxItems
  if (!Number.isInteger(maxItems) || maxItems < 1) return reject(500, 'max_items', 'the max_items setting must be a whole number of at least 1, got ' + show(maxItems))
  if (items.length > maxItems) return reject(422, 'affected_items', 'affected_items names ' + items.length + ' items; this workflow takes at most ' + maxItems + ' (max_items)')

  const timestampIn = field('timestamp')
  let timestamp = rules.now
  if (timestampIn !== undefined && timestampIn !== null && timestampIn !== '') {
    const seconds = typeof timestampIn === 'number' ? timestampIn : decimalText(timestampIn) ? Number(timestampIn.trim()) : undefined
    const iso = typeof timestampIn === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i.test(timestampIn.trim())
    const date = seconds !== undefined && seconds >= 0 ? new Date(seconds * 1000) : iso ? new Date(timestampIn.trim()) : new Date(NaN)
    if (Number.isNaN(date.getTime())) return reject(400, 'timestamp', 'timestamp must be unix seconds or an ISO-8601 time with its offset, got ' + show(timestampIn))
    timestamp = date.toISOString()
  }

  const optionalText = (name, fallback) => {
    const value = field(name)
    if (value === undefined || value === null || value === '') return { value: fallback }
    if (typeof value !== 'string' || value.trim() === '' || value.length > 100) return { error: reject(400, name, name + ' must be a text of at most 100 characters, got ' + show(value)) }
    return { value: value.trim() }
  }
  const workflowId = optionalText('workflow_id', rules.workflowId)
  if (workflowId.error) return workflowId.error
  const source = optionalText('source', null)
  if (source.error) return source.error

  const opportunity = { workflow_id: workflowId.value, issue_type: issueType, severity, description, metric_value: metric, affected_items: items, timestamp, source: source.value }
  // what the playbook's "$placeholders" stand for in this run (the generator fills them the same way from its own detection)
  const placeholders = Object.assign({ metric_value: metric, severity, affected_items: items, affected_count: items.length }, rules.severityProfiles[severity])
  return { valid: true, opportunity, placeholders }
}`

/** What the check is told about the workflow it guards; `maxItems` and `now` are given at run time. */
export interface CheckRules {
  issueType: string
  workflowId: string
  severityProfiles: Record<string, SeverityProfile>
  decimalPattern: string
  percentPattern: string
  maxItems: unknown
  now: string
}

export type CheckResult =
  | { valid: true; opportunity: Record<string, unknown>; placeholders: Record<string, unknown> }
  | { valid: false; status: 400 | 422 | 500; field: string; error: string }

/** The fixed part of the rules for one workflow: its type and id, the severities and the number formats POST /issues uses. */
export function checkRulesFor(issueType: string, workflowId: string): Omit<CheckRules, 'maxItems' | 'now'> {
  const severityProfiles = Object.fromEntries(SEVERITIES.map((s) => [s, SEVERITY_PROFILES[s]]))
  return { issueType, workflowId, severityProfiles, decimalPattern: DECIMAL.source, percentPattern: PERCENT.source }
}
