import { validateWorkflow, workflow as sdkWorkflow } from '@n8n/workflow-sdk'
import { describe, expect, it } from 'vitest'
import type { N8nWorkflow } from '../../src/exports/n8n.js'
import { everyTypeAndSeverity, exportOf } from './fixtures.js'

const n8nOf = (issueType: string, severity: Parameters<typeof exportOf>[2] = 'high'): N8nWorkflow => JSON.parse(exportOf('n8n', issueType, severity).content) as N8nWorkflow
/** Every `$('Node name')` an expression uses. */
const referencedNodes = (workflow: N8nWorkflow) => [...JSON.stringify(workflow).matchAll(/\$\(\\"([^"\\]+)\\"\)/g)].map((m) => m[1])

describe('the n8n export', () => {
  it("when every type is exported at every severity, then n8n's validateWorkflow reports 0 errors and 0 warnings", () => {
    for (const { issueType, severity } of everyTypeAndSeverity()) {
      const result = validateWorkflow(n8nOf(issueType, severity) as never)
      expect(result.errors, `${issueType} ${severity}`).toEqual([])
      expect(result.warnings, `${issueType} ${severity}`).toEqual([])
    }
  })

  it('when a node is cut loose, then validateWorkflow does warn (the check above can fail)', () => {
    const workflow = n8nOf('high_churn')
    delete workflow.connections['Settings']
    expect(validateWorkflow(workflow as never).warnings.map((w) => w.code)).toContain('DISCONNECTED_NODE')
  })

  it("when every type is checked by the SDK's builder validators too (expression prefixes, hard-coded credentials), then they find nothing", () => {
    for (const { issueType, severity } of everyTypeAndSeverity()) {
      const result = sdkWorkflow.fromJSON(n8nOf(issueType, severity) as never).validate()
      expect(result.errors, `${issueType} ${severity}`).toEqual([])
      expect(result.warnings, `${issueType} ${severity}`).toEqual([])
    }
  })

  it('when exported, then the webhook trigger comes first, every node is connected in order and every reference names an earlier node', () => {
    for (const issueType of ['high_churn', 'abandoned_carts', 'revenue_drop', 'payment_failures', 'low_conversion', 'error_spike']) {
      const workflow = n8nOf(issueType)
      const flow = workflow.nodes.filter((n) => n.type !== 'n8n-nodes-base.stickyNote')
      expect(flow[0]).toMatchObject({ name: 'Opportunity', type: 'n8n-nodes-base.webhook', parameters: { httpMethod: 'POST', path: `auto-feature-builder/${issueType}`, responseMode: 'responseNode' } })
      const side = (name: string) => ['Reject input', 'Report no rows', 'Stop after failure'].includes(name) || name.startsWith('Failed: ')
      const main = flow.filter((n) => !side(n.name))
      expect(main.slice(1, 4).map((n) => n.name)).toEqual(['Settings', 'Check input', 'Input valid?'])
      expect(main.at(-1)?.type).toBe('n8n-nodes-base.respondToWebhook')
      const branches: Record<string, string> = { 'Input valid?': 'Reject input', 'Any rows?': 'Report no rows' }
      for (let i = 0; i + 1 < main.length; i++) {
        const node = main[i]!
        const [next, second, ...more] = workflow.connections[node.name]?.main ?? []
        expect(next).toEqual([{ node: main[i + 1]!.name, type: 'main', index: 0 }])
        expect(more).toEqual([])
        if (branches[node.name]) expect(second).toEqual([{ node: branches[node.name], type: 'main', index: 0 }])
        else if (node.onError || node.name.endsWith(' ran?')) expect(second?.[0]?.node).toMatch(/^Failed: /)
        else expect(second).toBeUndefined()
      }
      for (const node of flow.filter((n) => n.name.startsWith('Failed: '))) expect(workflow.connections[node.name]?.main).toEqual([[{ node: 'Stop after failure', type: 'main', index: 0 }]])
      const position = new Map(main.map((n, i) => [n.name, i]))
      for (const node of main) {
        for (const name of referencedNodes({ ...workflow, nodes: [node] })) {
          expect(position.has(name as string), `${issueType}: ${node.name} reads ${name}`).toBe(true)
          expect(position.get(name as string)!, `${issueType}: ${node.name} reads ${name}, which runs later`).toBeLessThan(position.get(node.name)!)
        }
      }
      expect(new Set(workflow.nodes.map((n) => n.name)).size).toBe(workflow.nodes.length)
    }
  })

  it('when a step reads a field, then its node reads it from the node that produced it, per item after the query', () => {
    const nodes = new Map(n8nOf('abandoned_carts').nodes.map((n) => [n.name, n]))
    expect(nodes.get('Send email')?.parameters).toMatchObject({
      fromEmail: '={{ $("Settings").first().json.sender_email }}',
      toEmail: '={{ $("Query database").item.json.email }}',
      text: '={{ $("Generate AI message").item.json.message.content }}',
      subject: 'You left something in your cart',
    })
    expect(nodes.get('Query database')?.parameters.options).toEqual({ queryReplacement: '={{ [ $("Check input").first().json.opportunity.affected_items ] }}', largeNumbersOutput: 'numbers' })
    const prompt = JSON.stringify(nodes.get('Generate AI message')?.parameters.messages)
    expect(prompt).toContain('<data>{{ JSON.stringify($(\\"Compute offer\\").item.json.recovery_price ?? null)')
    expect(prompt).toContain('<data>{{ JSON.stringify($(\\"Settings\\").first().json.urgency ?? null)')
  })

  it('when exported, then no credential is embedded and the sticky note lists every setting and credential to choose', () => {
    const exported = exportOf('n8n', 'high_churn')
    const workflow = JSON.parse(exported.content) as N8nWorkflow & { nodes: { credentials?: unknown }[] }
    for (const node of workflow.nodes) expect(node.credentials).toBeUndefined()
    const note = workflow.nodes.find((n) => n.name === 'Setup')?.parameters.content as string
    for (const item of exported.setup) expect(note).toContain(item.text)
    expect(note).toMatch(/Node "Query database": choose \(or create\) its Postgres credential/)
    expect(note).toMatch(/set `sender_email`/)
    // a config value no node carries out is said, not pretended
    expect(note).toMatch(/"Send email" does not carry out .*send_window_hours=24/)
  })

  it('when exported, then the webhook runs only for callers sending the x-afb-secret header, and the setup note first says which credential to create', () => {
    const exported = exportOf('n8n', 'high_churn')
    const trigger = (JSON.parse(exported.content) as N8nWorkflow).nodes.find((n) => n.name === 'Opportunity')
    expect(trigger?.parameters).toMatchObject({ authentication: 'headerAuth', responseMode: 'responseNode' })
    expect(trigger).not.toHaveProperty('credentials')
    expect(exported.setup[0]).toEqual({ kind: 'credential', text: expect.stringMatching(/^Node "Opportunity": create its Header Auth credential with Name `x-afb-secret` and a long random Value/) })
  })

  it('when a step fails, then its error output answers 502 naming the step, and the run stops before any later step', () => {
    const workflow = n8nOf('high_churn')
    const nodes = new Map(workflow.nodes.map((n) => [n.name, n]))
    for (const name of ['Check input', 'Query database', 'Segment customers', 'Generate AI message', 'Send email', 'Track metric']) {
      expect(nodes.get(name)?.onError, name).toBe('continueErrorOutput')
      expect(workflow.connections[name]?.main[1], name).toEqual([{ node: `Failed: ${name}`, type: 'main', index: 0 }])
    }
    const failed = nodes.get('Failed: Segment customers')!
    expect(failed.parameters).toMatchObject({ respondWith: 'json', options: { responseCode: 502 } })
    expect(failed.parameters.responseBody).toMatch(/^=\{\{ JSON\.stringify\(\{ "failed_step": "Segment customers", "error": /)
    // n8n (execution order v1) runs the topmost branch first: the answer and the stop come before the next step's items
    expect(failed.position[1]).toBeLessThan(nodes.get('Segment customers')!.position[1])
    expect(nodes.get('Stop after failure')).toMatchObject({ type: 'n8n-nodes-base.stopAndError' })
  })

  it('when a node needs a credential, then an IF after it checks that its output has what it must produce (a node without one passes its input on as a success)', () => {
    const workflow = n8nOf('high_churn')
    const nodes = new Map(workflow.nodes.map((n) => [n.name, n]))
    const condition = (name: string) => JSON.stringify(nodes.get(name)?.parameters.conditions)
    expect(condition('Query database ran?')).toContain('Object.keys($json).length === 0 || (')
    expect(condition('Query database ran?')).toContain('[\\"customer_id\\"]')
    expect(condition('Generate AI message ran?')).toContain('[\\"message\\",\\"content\\"]')
    expect(condition('Send email ran?')).toContain('[\\"messageId\\"]')
    for (const [guard, step] of [['Query database ran?', 'Query database'], ['Generate AI message ran?', 'Generate AI message'], ['Send email ran?', 'Send email']]) {
      expect(workflow.connections[step!]?.main[0]).toEqual([{ node: guard, type: 'main', index: 0 }])
      expect(workflow.connections[guard!]?.main[1]).toEqual([{ node: `Failed: ${step}`, type: 'main', index: 0 }])
    }
    expect(nodes.has('Segment customers ran?')).toBe(false)
  })

  it('when a step config holds values of the detection it was generated for, then the export reads those of the detection it receives', () => {
    const nodes = new Map(n8nOf('high_churn').nodes.map((n) => [n.name, n]))
    const track = nodes.get('Track metric')?.parameters.jsonBody as string
    expect(track).toContain('"baseline": $("Check input").first().json.placeholders.metric_value')
    expect(track).toContain('"cohort_size": $("Check input").first().json.placeholders.affected_count')
    expect(track).toContain('"holdout_fraction": 0.1')
    const report = nodes.get('Report outcome')?.parameters.responseBody
    expect(report).toContain('"workflow_id": $("Check input").first().json.opportunity.workflow_id')
    expect(report).toContain('"metric_value": $("Check input").first().json.opportunity.metric_value')
    // only the playbook's settings stay fixed in the file
    expect(JSON.stringify(nodes.get('Settings')?.parameters)).toContain('"name":"discount_offer","value":0.15')
  })

  it('when the query finds no rows, then an IF branch answers processed: 0; steps after it that read nothing per row run once', () => {
    const workflow = n8nOf('abandoned_carts')
    const nodes = new Map(workflow.nodes.map((n) => [n.name, n]))
    expect(nodes.get('Query database')).toMatchObject({ alwaysOutputData: true })
    expect(nodes.get('Report no rows')?.parameters.responseBody).toContain('"processed": 0')
    expect(nodes.get('Track metric')).toMatchObject({ executeOnce: true })
    expect(nodes.get('Send email')?.executeOnce).toBeUndefined()
    expect(nodes.get('At most max_items')?.parameters.jsCode).toContain('.slice(0, max)')
    expect(nodes.get('Report outcome')?.parameters.responseBody).toContain('"processed": $("At most max_items").all().length')
    // low_conversion's metric step reads the per-row experiment id: it runs per row
    expect(new Map(n8nOf('low_conversion').nodes.map((n) => [n.name, n])).get('Track metric')?.executeOnce).toBeUndefined()
  })

  it('when the same workflow is exported twice, then the files are identical (stable node ids)', () => {
    expect(exportOf('n8n', 'error_spike').content).toBe(exportOf('n8n', 'error_spike').content)
  })

  it('when text from the opportunity or a setting could end an n8n expression, then it stays inside its string', () => {
    const json = exportOf('n8n', 'high_churn').content
    const bodies = [...json.matchAll(/"jsonBody": "=\{\{ (.*) \}\}"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string)
    expect(bodies.length).toBeGreaterThan(0)
    for (const body of bodies) expect(body).not.toMatch(/\}\}|\{\{/)
  })
})
