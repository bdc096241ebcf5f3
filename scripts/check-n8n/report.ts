import type { CaseResult } from './verify.js'

/** One line per issue type, problems indented below a failing one, and the `N passed, N failed` tally last. */

export function resultLine(r: CaseResult): string {
  const verdict = r.problems.length === 0 ? 'ok  ' : 'FAIL'
  const cells = [
    `${r.steps} steps`,
    `processed ${r.processed === undefined ? '-' : JSON.stringify(r.processed)}`,
    `messages ${r.messages}`,
    `mails ${r.mails}`,
    `HTTP calls ${r.httpCalls}`,
    `AI calls ${r.aiCalls}`,
    `${r.seconds.toFixed(1)} s`,
  ]
  const lines = [`${r.issueType.padEnd(17)} ${verdict}  ${cells.join('  ')}`]
  for (const problem of r.problems) lines.push(`    - ${problem}`)
  return lines.join('\n')
}

/** A type that never got as far as a webhook call (e.g. its export failed to build). */
export function setupFailure(issueType: string, problem: string): CaseResult {
  return { issueType, steps: 0, processed: undefined, messages: 0, mails: 0, httpCalls: 0, aiCalls: 0, seconds: 0, problems: [problem] }
}

export function tally(results: CaseResult[]): string {
  const failed = results.filter((r) => r.problems.length > 0).length
  return `${results.length - failed} passed, ${failed} failed`
}
