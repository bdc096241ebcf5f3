import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { problems } from '../contract/problem.js'
import { VERSION } from '../version.js'
import { NOT_RATE_LIMITED } from './protection.js'

type SecurityRequirement = Record<string, string[]>

const SCHEMA_REF = '#/components/schemas/'

/** The component names that `$ref`s anywhere inside value point to. */
function schemaRefs(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) schemaRefs(item, found)
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith(SCHEMA_REF)) found.add(child.slice(SCHEMA_REF.length))
      else schemaRefs(child, found)
    }
  }
  return found
}

const KEYED: SecurityRequirement[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }]
/** OpenAPI's "no credentials needed": in protected mode (no API_KEYS) a loopback caller sends no key. */
const NO_KEY: SecurityRequirement = {}

/**
 * Answers every route can give whatever its own schema lists, added here at the one place that
 * knows why: each request is written to the audit log in its own transaction, so any route answers
 * 503 when the store cannot take it; every route but the probes is rate-limited (429); in protected
 * mode a caller that is not on loopback is refused (403) even on the public routes.
 */
function answersOfEveryRoute(url: string, keysConfigured: boolean): Record<number, unknown> {
  return problems(...(keysConfigured ? [] : [403]), ...(NOT_RATE_LIMITED.includes(url) ? [] : [429]), 503)
}

/**
 * The route's audit operation name (e.g. "issue.create") is its operationId: one name in the docs and the
 * audit log. A route whose audit name varies per request sets `schema.operationId` itself.
 * With no keys configured, every keyed operation also offers `{}`: the document a running instance
 * serves says what that instance asks for.
 */
function transformFor(keysConfigured: boolean): SwaggerTransform {
  return (input) => {
    const response = { ...answersOfEveryRoute(input.url, keysConfigured), ...(input.schema.response as object | undefined) }
    const result = jsonSchemaTransform({ ...input, schema: { ...input.schema, response } })
    const operationId = result.schema.operationId ?? input.route.config?.operation
    const security = result.schema.security as SecurityRequirement[] | undefined
    return {
      ...result,
      schema: {
        ...result.schema,
        ...(operationId && { operationId }),
        ...(!keysConfigured && security !== undefined && security.length > 0 && { security: [...security, NO_KEY] }),
      },
    }
  }
}

/**
 * fastify-type-provider-zod emits every schema that has an id twice — `X` (responses) and `XInput`
 * (requests) — whether or not an operation uses it. Only the components the operations reach are kept.
 */
const transformObject: SwaggerTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as { components?: { schemas?: Record<string, unknown> } }
  const schemas = document.components?.schemas ?? {}
  const reached = schemaRefs({ ...document, components: { ...document.components, schemas: {} } })
  const pending = [...reached]
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    for (const ref of schemaRefs(schemas[name])) {
      if (reached.has(ref)) continue
      reached.add(ref)
      pending.push(ref)
    }
  }
  const used = Object.fromEntries(Object.entries(schemas).filter(([name]) => reached.has(name)))
  return { ...document, components: { ...document.components, schemas: used } } as ReturnType<SwaggerTransformObject>
}

/**
 * The OpenAPI document is generated from the routes' zod schemas: one source for validation, types and docs.
 * `keysConfigured`: whether API_KEYS is set; without keys (protected mode) the document offers `{}` (no key).
 */
export async function registerOpenApi(app: FastifyInstance, { keysConfigured }: { keysConfigured: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'auto-feature-builder',
        version: VERSION,
        description:
          'Turns business-opportunity notifications into a workflow definition, an AI prompt template and a runnable test; ' +
          'previews what a commit would do (dry run is the default) and commits to git only on an explicit flag. ' +
          'Every request is written to a hash-chained audit log. Errors are application/problem+json (RFC 9457). ' +
          (keysConfigured
            ? 'This document describes an instance with API_KEYS: every operation but the probes needs a key (POST /issues and POST /kpis also take a signed webhook). ' +
              'An instance in protected mode (no API_KEYS) serves loopback callers without a key, and its own GET /openapi.json says so ({} among the security alternatives).'
            : 'This document describes an instance in protected mode (no API_KEYS): loopback callers need no key ({} among the security alternatives) and every other caller is refused with 403.'),
        license: { name: 'UNLICENSED' },
      },
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key from API_KEYS: Authorization: Bearer <key>' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same API key in X-API-Key' },
          webhookSignature: {
            type: 'apiKey',
            in: 'header',
            name: 'webhook-signature',
            description: 'POST /issues only: a Standard Webhooks signature (with webhook-id and webhook-timestamp) made with WEBHOOK_SECRET',
          },
        },
      },
      // every operation needs a key unless it says otherwise (health, readiness), or there are no keys
      security: keysConfigured ? KEYED : [...KEYED, NO_KEY],
      tags: [
        { name: 'issues', description: 'Opportunity notifications in' },
        { name: 'workflows', description: 'Generated workflows and their prompt templates' },
        { name: 'exports', description: 'The workflows as n8n workflows, Make blueprints and Zapier recipes' },
        { name: 'commits', description: 'Dry-run previews and explicit real commits to the target repository' },
        { name: 'audit', description: 'The tamper-evident audit log' },
        { name: 'operations', description: 'Status, liveness and readiness' },
      ],
    },
    transform: transformFor(keysConfigured),
    transformObject,
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { schema: { hide: true }, config: { operation: 'docs.openapi', access: 'public' } }, async () => app.swagger())
}
