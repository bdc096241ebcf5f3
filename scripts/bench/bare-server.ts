/**
 * The bench's yardstick: a bare Fastify 5 server, started as a child process by ingest.ts, whose
 * POST /issues parses the same JSON body (Fastify's own parser) and answers 201 with a small JSON.
 * No validation, no generation, no storage, no audit: what HTTP and JSON alone cost on this machine.
 * PORT (0 = any); prints "listening <port>" once it accepts connections.
 */
import Fastify from 'fastify'

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 })
let seq = 0
app.post('/issues', async (request, reply) => {
  const body = request.body as { issue_type?: unknown }
  seq++
  return reply.code(201).send({ workflow_id: `bare-${seq}`, issue_type: body.issue_type ?? null })
})

const shutdown = () => void app.close().then(() => process.exit(0))
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
const address = app.server.address()
console.log(`listening ${typeof address === 'object' && address ? address.port : ''}`)
