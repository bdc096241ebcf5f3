import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KEYED_INSTANCE, liveOpenApiDocument } from '../scripts/openapi-document.js'
import { opportunityInput } from '../src/contract/opportunity.js'
import { Problem } from '../src/contract/problem.js'
import { projectRoot } from '../src/config.js'
import { testApp, type TestApp } from './helpers/app.js'

interface MediaType {
  schema?: { $ref?: string }
  example?: unknown
}
interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  requestBody?: { content: Record<string, MediaType> }
  security?: Array<Record<string, string[]>>
  responses: Record<string, { description?: string; content?: Record<string, MediaType> }>
}
interface OpenApiDocument {
  openapi: string
  security: Array<Record<string, string[]>>
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, { example?: unknown }> }
}

const root = projectRoot()
const COMMITTED = path.join(root, 'openapi', 'openapi.json')
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

/** Problems with extension members: a failing readiness probe also reports its checks. */
const EXTENDED_PROBLEMS: Record<string, string> = { 'GET /readyz 503': 'NotReady' }

function operations(doc: OpenApiDocument): Array<{ key: string; operation: Operation }> {
  return Object.entries(doc.paths).flatMap(([url, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([method, operation]) => ({ key: `${method.toUpperCase()} ${url}`, operation })),
  )
}

function runRedoclyLint(file: string): Promise<{ code: number; output: string }> {
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1', FORCE_COLOR: '0' }
  return new Promise((resolve) => {
    execFile(path.join(root, 'node_modules', '.bin', 'redocly'), ['lint', file, '--format=stylish'], { cwd: root, env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
      resolve({ code, output: `${stdout}\n${stderr}` })
    })
  })
}

let committedText: string
let doc: OpenApiDocument
let t: TestApp
beforeAll(async () => {
  committedText = readFileSync(COMMITTED, 'utf8')
  doc = JSON.parse(committedText) as OpenApiDocument
  t = await testApp(KEYED_INSTANCE)
})
afterAll(async () => {
  await t.close()
})

describe('the committed OpenAPI document', () => {
  it('when compared with the document of the live app, then it is identical', async () => {
    const live = await liveOpenApiDocument()
    expect(committedText === live, 'openapi/openapi.json is stale: run npm run openapi').toBe(true)
  })

  it('when GET /openapi.json is asked, then it serves the same document as JSON', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    expect(res.json()).toEqual(doc)
  })

  it('when validated by swagger-parser, then it is a valid OpenAPI 3 document whose every $ref resolves', async () => {
    // validate() dereferences in place, so it gets its own copy
    const validated = (await SwaggerParser.validate(structuredClone(doc) as never)) as unknown as OpenApiDocument
    expect(validated.openapi).toBe('3.0.3')
    expect(Object.keys(validated.paths)).toEqual(Object.keys(doc.paths))
  })

  it('when linted by Redocly with the recommended rules (redocly.yaml), then it has no problem', async () => {
    const { code, output } = await runRedoclyLint('openapi/openapi.json')
    expect(code, output).toBe(0)
    expect(output).toContain('Your API description is valid')
    // stylish lines look like "  7:5  warning  info-license-strict  …"; warnings are not tolerated either
    expect(output, output).not.toMatch(/^\s*\d+:\d+\s+(error|warning)\s/m)
  })

  it('when its components are listed, then each is a named schema — no "Input" duplicates nobody references, no __shared definitions', () => {
    const names = Object.keys(doc.components.schemas)
    expect(names).not.toContain('__shared')
    expect(committedText).not.toContain('#/definitions/')
    expect(names).toEqual(expect.arrayContaining(['Problem', 'FieldError', 'WorkflowRecord', 'JsonValue']))
    const referenced = new Set([...committedText.matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]))
    expect(names.filter((name) => !referenced.has(name))).toEqual([])
  })
})

describe('what the document describes', () => {
  it('when its operations are listed, then every route of the contract is there with a unique operationId, a summary and a tag', () => {
    const keys = operations(doc).map((o) => o.key)
    expect(keys).toEqual(
      expect.arrayContaining([
        'POST /issues',
        'GET /workflows',
        'GET /workflows/{id}',
        'POST /workflows/{id}/prompt',
        'GET /audit',
        'GET /audit/verify',
        'GET /status',
        'GET /healthz',
        'GET /readyz',
      ]),
    )
    const ids = operations(doc).map((o) => o.operation.operationId)
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
    expect(operations(doc).find((o) => o.key === 'POST /issues')?.operation.operationId).toBe('issue.create')
    for (const { key, operation } of operations(doc)) {
      expect(operation.summary, key).toBeTruthy()
      expect(operation.tags?.length, key).toBeGreaterThan(0)
    }
  })

  it('when POST /issues is read, then it accepts JSON and form bodies with one schema and a valid example', () => {
    const issues = doc.paths['/issues']?.post
    const content = issues?.requestBody?.content ?? {}
    expect(Object.keys(content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded'])
    expect(content['application/x-www-form-urlencoded']?.schema).toEqual(content['application/json']?.schema)
    const example = (content['application/json']?.schema as { example?: unknown } | undefined)?.example
    expect(example).toMatchObject({ issue_type: 'high_churn', severity: 'high', metric_value: 0.08 })
    // the example is one the service itself accepts
    expect(opportunityInput([...t.services.playbooks.keys()]).safeParse(example).success).toBe(true)
    expect(issues?.responses['201']?.content?.['application/json']?.schema).toEqual({ $ref: '#/components/schemas/WorkflowRecord' })
  })

  it('when error responses are read, then each is application/problem+json with the Problem schema and its own description', () => {
    const errors = operations(doc).flatMap(({ key, operation }) =>
      Object.entries(operation.responses)
        .filter(([status]) => Number(status) >= 400)
        .map(([status, response]) => ({ where: `${key} ${status}`, response })),
    )
    expect(errors.map((e) => e.where)).toEqual(expect.arrayContaining(['POST /issues 400', 'POST /issues 415', 'GET /workflows/{id} 404']))
    for (const { where, response } of errors) {
      expect(Object.keys(response.content ?? {}), where).toEqual(['application/problem+json'])
      const schema = EXTENDED_PROBLEMS[where] ?? 'Problem'
      expect(response.content?.['application/problem+json']?.schema, where).toEqual({ $ref: `#/components/schemas/${schema}` })
      expect(response.description, where).not.toBe('Default Response')
    }
  })

  it('when the Problem schema is read, then it carries an example that is itself a valid problem', () => {
    const example = doc.components.schemas.Problem?.example
    expect(example).toMatchObject({ status: 400, instance: '/issues', errors: [{ path: 'severity' }, { path: 'metric_value' }] })
    expect(Problem.safeParse(example).success).toBe(true)
  })
})

describe('what the document says about answers and keys', () => {
  it('when the export download is read, then n8n and make are a JSON object and zapier is Markdown, not a JSON string', () => {
    const content = doc.paths['/workflows/{id}/exports/{format}']?.get?.responses['200']?.content ?? {}
    expect(Object.keys(content).sort()).toEqual(['application/json', 'text/markdown'])
    expect(content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/ExportJsonFile' })
    expect(doc.components.schemas.ExportJsonFile).toMatchObject({ type: 'object' })
    expect(content['text/markdown']?.schema).toMatchObject({ type: 'string' })
  })

  it('when /metrics is looked up, then it is documented as text/plain, and every route answers 503 and (but the probes) 429', () => {
    expect(Object.keys(doc.paths['/metrics']?.get?.responses['200']?.content ?? {})).toEqual(['text/plain'])
    for (const { key, operation } of operations(doc)) {
      expect(Object.keys(operation.responses), key).toContain('503')
      if (key !== 'GET /healthz' && key !== 'GET /readyz') expect(Object.keys(operation.responses), key).toContain('429')
    }
  })

  it('when the committed document (an instance with API_KEYS) is read, then no keyed operation offers {} and it says which instance it describes', () => {
    expect(doc.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }])
    expect(operations(doc).filter(({ operation }) => operation.security?.some((s) => Object.keys(s).length === 0))).toEqual([])
    expect((doc as unknown as { info: { description: string } }).info.description).toContain('This document describes an instance with API_KEYS')
  })

  it('when an instance in protected mode (no API_KEYS) serves its document, then every keyed operation also offers {} — no key — and 403 is documented everywhere', async () => {
    const protectedMode = await testApp()
    try {
      const served = (await protectedMode.app.inject({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>()
      expect(served.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }, {}])
      expect(served.paths['/issues']?.post?.security).toEqual([{ bearerAuth: [] }, { apiKeyHeader: [] }, { webhookSignature: [] }, {}])
      expect(served.paths['/healthz']?.get?.security).toEqual([])
      for (const { key, operation } of operations(served)) expect(Object.keys(operation.responses), key).toContain('403')
      expect((served as unknown as { info: { description: string } }).info.description).toContain('protected mode')
    } finally {
      await protectedMode.close()
    }
  })
})
