import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { VERSION } from '../version.js'

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
      tags: [
        { name: 'issues', description: 'Opportunity notifications in' },
        { name: 'workflows', description: 'Generated workflows and their prompt templates' },
        { name: 'audit', description: 'The tamper-evident audit log' },
        { name: 'operations', description: 'Status, liveness and readiness' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } })
  app.get('/openapi.json', { schema: { hide: true }, config: { operation: 'docs.openapi' } }, async () => app.swagger())
}
