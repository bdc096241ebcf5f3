import { createServer } from 'node:net'

/**
 * A free loopback port, for the servers that want a number up front (postgres, n8n).
 * The kernel picks it; we close our socket right away, so there is a tiny window in which
 * another process could take it — acceptable for a local check.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))))
    })
  })
}
