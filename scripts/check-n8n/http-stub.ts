import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JsonValue } from '../../src/playbooks/schema.js'

/**
 * Test double for every HTTP endpoint the generated workflows call: the user's own API
 * (segments, offers, payments, experiments, credits, metrics), the SMS provider, the ops
 * webhook, the deploy tool — and an OpenAI-compatible chat endpoint. It records each request
 * so the check can compare what n8n sent with what the playbook says it should send.
 */

export interface RecordedRequest {
  method: string
  path: string
  body: unknown
  authorization: string | undefined
}

/**
 * Answers by path suffix, with exactly the fields the playbook step `produces`, so later
 * steps have real values to read. A request to anything else gets a 404 (and fails the run).
 */
const ANSWERS: [suffix: string, answer: Record<string, JsonValue>][] = [
  ['/segments/assign', { segment: 'high_value' }],
  ['/segments/conversion-gap', { audience: 'mobile visitors from ads', solution: 'one-page checkout' }],
  ['/offers/recovery-price', { recovery_price: 19.99 }],
  ['/offers/upsell', { upsell_product: 'Pro', value_prop: 'twice the seats' }],
  ['/payments/retry', { retry_status: 'scheduled' }],
  ['/experiments', { experiment_id: 'exp_1' }],
  ['/credits', { credit_id: 'cr_1' }],
  ['/rollbacks', { rollback_status: 'rolled_back' }],
  ['/metrics', { ok: true }],
  ['/sms', { ok: true }],
  ['/ops-webhook', { ok: true }],
]

export const CHAT_PATH = '/v1/chat/completions'

/** What the stub answers a POST to `path` with, or undefined (404). */
export function answerFor(path: string): Record<string, JsonValue> | undefined {
  return ANSWERS.find(([suffix]) => path.endsWith(suffix))?.[1]
}

/** The "AI" writes back the prompt it got, so the rendered prompt shows in n8n's result. */
export function echoOf(prompt: string): string {
  return `ECHO: ${prompt}`
}

interface ChatRequest {
  model?: string
  messages?: { role?: string; content?: unknown }[]
}

function chatCompletion(body: ChatRequest): Record<string, JsonValue> {
  const prompt = (body.messages ?? [])
    .filter((m) => m.role === 'user')
    .map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content)))
    .join('\n')
  return {
    id: 'chatcmpl-check-n8n',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model ?? 'unknown',
    choices: [{ index: 0, message: { role: 'assistant', content: echoOf(prompt) }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (text += chunk))
    req.on('error', reject)
    req.on('end', () => {
      if (text === '') return resolve(null)
      try {
        resolve(JSON.parse(text))
      } catch {
        resolve(text) // kept as text: the check then reports a non-JSON body
      }
    })
  })
}

export interface HttpStub {
  /** http://127.0.0.1:<port>, no trailing slash */
  url: string
  requests: RecordedRequest[]
  /** the next call to `path` answers 500 (later ones as usual): a step that fails for one item of several */
  failNext(path: string): void
  close(): Promise<void>
}

export function startHttpStub(): Promise<HttpStub> {
  const requests: RecordedRequest[] = []
  const failing = new Set<string>()
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        const path = (req.url ?? '/').split('?')[0] as string
        requests.push({ method: req.method ?? '', path, body, authorization: req.headers.authorization })
        if (failing.delete(path)) return send(res, 500, { error: 'check-n8n: this call fails on purpose' })
        if (req.method === 'POST' && path === CHAT_PATH) return send(res, 200, chatCompletion((body ?? {}) as ChatRequest))
        const answer = req.method === 'POST' ? answerFor(path) : undefined
        if (answer) return send(res, 200, answer)
        send(res, 404, { error: 'the check-n8n stub has no such endpoint', method: req.method, path })
      },
      (err: Error) => send(res, 400, { error: err.message }),
    )
  })
  return new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        failNext: (path) => void failing.add(path),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          }),
      })
    })
  })
}
