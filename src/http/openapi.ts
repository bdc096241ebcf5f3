import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { VERSION } from '../version.js'

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

/**
 * The route's audit operation name (e.g. "issue.create") is its operationId: one name in the docs and the
 * audit log. A route whose audit name varies per request sets `schema.operationId` itself.
 */
const transform: SwaggerTransform = (input) => {
  const result = jsonSchemaTransform(input)
  const operationId = result.schema.operationId ?? input.route.config?.operation
  return operationId ? { ...result, schema: { ...result.schema, operationId } } : result
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

/** The OpenAPI document is generated from the routes' zod schemas: one source for validation, types and docs. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'auto-feature-builder',
        version: VERSION,
        description:
          'Turns business-opportunity notifications into a workflow definition, an AI prompt template and a runnable test; ' +
          'previews what a commit would do (dry run is the default) and commits to git only on an explicit flag. ' +
          'Every request is written to a hash-chained audit log. Errors are application/problem+json (RFC 9457).',
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
      // every operation needs a key unless it says otherwise (health, readiness)
      security: [{ bearerAuth: [] }, { apiKeyHeader: [] }],
      tags: [
        { name: 'issues', description: 'Opportunity notifications in' },
        { name: 'workflows', description: 'Generated workflows and their prompt templates' },
        { name: 'exports', description: 'The workflows as n8n workflows, Make blueprints and Zapier recipes' },
        { name: 'commits', description: 'Dry-run previews and explicit real commits to the target repository' },
        { name: 'audit', description: 'The tamper-evident audit log' },
        { name: 'operations', description: 'Status, liveness and readiness' },
      ],
    },
    transform,
    transformObject,
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { schema: { hide: true }, config: { operation: 'docs.openapi', access: 'public' } }, async () => app.swagger())
}
