import { describe, expect, it } from 'vitest'
import { checkMakeBlueprint } from '../helpers/check-make.js'
import { everyTypeAndSeverity, exportOf } from './fixtures.js'

type Blueprint = { flow: Record<string, unknown>[]; [key: string]: unknown }
const blueprintOf = (issueType: string): Blueprint => JSON.parse(exportOf('make', issueType).content) as Blueprint

describe('the Make blueprint export', () => {
  it('when every type is exported at every severity, then the blueprint checker finds nothing', () => {
    for (const { issueType, severity } of everyTypeAndSeverity()) {
      const blueprint = JSON.parse(exportOf('make', issueType, severity).content)
      expect(checkMakeBlueprint(blueprint), `${issueType} ${severity}`).toEqual([])
    }
  })

  it('when exported, then it starts with the custom webhook, sets every setting in module 2 and ends by answering the webhook', () => {
    const blueprint = blueprintOf('abandoned_carts')
    const modules = blueprint.flow.map((m) => m.module)
    expect(modules[0]).toBe('gateway:CustomWebHook')
    expect(modules[1]).toBe('util:SetVariables')
    expect(modules.at(-2)).toBe('builtin:BasicAggregator')
    expect(modules.at(-1)).toBe('gateway:WebhookRespond')
    expect(modules).toContain('openai-gpt-3:CreateCompletion')
    expect(modules).toContain('email:ActionSendEmail')
    const settings = (blueprint.flow[1]?.mapper as { variables: { name: string }[] }).variables.map((v) => v.name)
    expect(settings).toEqual(['carts_table', 'sender_email', 'openai_model', 'api_base_url', 'discount', 'urgency'])
  })

  it('when a step reads a field, then the module maps it from the module that produced it, in IML', () => {
    const blueprint = blueprintOf('abandoned_carts')
    const byModule = (name: string) => blueprint.flow.find((m) => m.module === name) as { id: number; mapper: Record<string, unknown> }
    const feeder = byModule('builtin:BasicFeeder')
    const email = byModule('email:ActionSendEmail')
    const ai = byModule('openai-gpt-3:CreateCompletion')
    expect(email.mapper.to).toEqual([`{{${feeder.id}.email}}`])
    expect(email.mapper.from).toBe('{{2.sender_email}}')
    expect(email.mapper.text).toBe(`{{${ai.id}.result}}`)
    expect(JSON.stringify(ai.mapper.messages)).toContain(`toString(${feeder.id}.product_name)`)
    expect(JSON.stringify(ai.mapper.messages)).not.toMatch(/\{\{\s*[a-z_]+\s*\}\}/) // no prompt variable left unwired
  })

  it('when exported, then nothing account-bound is embedded and the setup names each connection to choose', () => {
    const exported = exportOf('make', 'high_churn')
    const text = exported.content
    expect(text).not.toMatch(/__IMTCONN__|__IMTHOOK__|"hook"|"account"|Keychain/)
    expect(exported.setup.map((s) => s.text)).toEqual(expect.arrayContaining([expect.stringMatching(/OpenAI connection/), expect.stringMatching(/Email \(SMTP\) connection/)]))
  })
})

describe('the Make blueprint checker', () => {
  const faultsAfter = (edit: (b: Blueprint) => void) => {
    const blueprint = blueprintOf('high_churn')
    edit(blueprint)
    return checkMakeBlueprint(blueprint)
  }

  it('when two modules share an id, then it says so', () => {
    expect(faultsAfter((b) => (b.flow[3]!.id = 2))).toEqual(expect.arrayContaining([expect.stringMatching(/duplicate module id 2/)]))
  })

  it('when a module maps from a later module, or one that does not exist, then it names both', () => {
    expect(faultsAfter((b) => (b.flow[2]!.mapper = { url: '{{7.data}}' }))).toEqual([expect.stringMatching(/flow\[2\] \(id 3\): mapper reads module 7, which does not run before it/)])
    expect(faultsAfter((b) => (b.flow[2]!.mapper = { url: '{{length(99.data)}}' }))).toEqual([expect.stringMatching(/reads module 99, which does not exist/)])
  })

  it('when a module on one route maps from a module on another route, then it fails', () => {
    const faults = faultsAfter((b) => {
      const at = (x: number) => ({ designer: { x, y: 0 } })
      b.flow.push({
        id: 50,
        module: 'builtin:BasicRouter',
        version: 1,
        mapper: null,
        metadata: at(0),
        routes: [
          { flow: [{ id: 51, module: 'util:SetVariable2', version: 1, parameters: {}, mapper: { name: 'a', value: '{{1.severity}}' }, metadata: at(1) }] },
          { flow: [{ id: 52, module: 'util:SetVariable2', version: 1, parameters: {}, mapper: { name: 'b', value: '{{51.a}}' }, metadata: at(2) }] },
        ],
      })
    })
    expect(faults).toEqual([expect.stringMatching(/id 52\): mapper reads module 51, which does not run before it on this path/)])
  })

  it('when a connection, a webhook or exporter metadata is embedded, then it fails', () => {
    expect(faultsAfter((b) => (b.flow[0]!.parameters = { hook: 123456 }))).toEqual([expect.stringMatching(/parameters\.hook is account-bound/)])
    expect(faultsAfter((b) => (b.flow[4]!.parameters = { __IMTCONN__: 1 }))).toEqual([expect.stringMatching(/parameters\.__IMTCONN__ is account-bound/)])
    expect(faultsAfter((b) => ((b.flow[1]!.metadata as Record<string, unknown>).restore = {}))).toEqual([expect.stringMatching(/metadata\.restore is exporter-only/)])
  })

  it('when the structure is off (top-level key, version, coordinates, router mapper, aggregator feeder), then each is named', () => {
    expect(faultsAfter((b) => (b.scheduling = { type: 'indefinitely' }))).toEqual(['unexpected top-level key "scheduling"'])
    expect(faultsAfter((b) => (b.flow[1]!.version = 0))).toEqual([expect.stringMatching(/version must be a positive integer/)])
    expect(faultsAfter((b) => (b.flow[1]!.metadata = {}))).toEqual([expect.stringMatching(/designer\.x\/y coordinates are required/)])
    expect(faultsAfter((b) => b.flow.splice(1, 0, { id: 60, module: 'builtin:BasicRouter', version: 1, mapper: {}, routes: [], metadata: { designer: { x: 0, y: 0 } } }))).toEqual([
      expect.stringMatching(/a router has mapper null/),
      expect.stringMatching(/a router must have routes/),
    ])
    const aggregator = (b: Blueprint) => b.flow.find((m) => m.module === 'builtin:BasicAggregator') as { parameters: { feeder: number } }
    expect(faultsAfter((b) => (aggregator(b).parameters.feeder = 1000))).toEqual([expect.stringMatching(/aggregator feeder 1000 is not a module that runs before it/)])
  })

  it('when a real-looking address or token is in it, then it fails', () => {
    expect(faultsAfter((b) => (b.description = 'mail ops@acme-corp.com'))).toEqual([expect.stringMatching(/e-mail address outside the example domains/)])
    expect(faultsAfter((b) => (b.description = 'token: abcdefghijklmnopqrstuvwxyz123'))).toEqual([expect.stringMatching(/credential-looking/)])
  })
})
