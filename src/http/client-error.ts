import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import type { AuditLog } from '../audit/log.js'
import { systemAuditEntry } from './audit-hook.js'
import { PROBLEM_CONTENT_TYPE } from './error-handler.js'
import type { FixedWindowLimiter } from './fixed-window.js'
import { problemType } from './problem.js'
import type { RefusalLedger } from './refusal-ledger.js'
import { clientNetwork } from './client-network.js'

export interface UnroutedGuard {
  audit: AuditLog
  ledger: RefusalLedger
  limiter: FixedWindowLimiter
}

const ANSWERS: Record<string, { status: number; title: string; detail: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, title: 'Request Timeout', detail: 'The request was not complete in time; send headers and body without pausing' },
  HPE_HEADER_OVERFLOW: { status: 431, title: 'Request Header Fields Too Large', detail: 'The request headers are too large' },
}
const MALFORMED = { status: 400, title: 'Bad Request', detail: 'The request is not well-formed HTTP/1.1' }

/**
 * Node's own refusals (a malformed request line or header, a half-sent request that timed out)
 * become problem+json answers with a request id, audited like every other answer. A flood of
 * them from one address is counted rather than recorded one by one (the refusal ledger).
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket, guard: UnroutedGuard): void {
  const answer = ANSWERS[error.code ?? ''] ?? MALFORMED
  const requestId = randomUUID()
  const ip = socket.remoteAddress ?? null
  const entry = systemAuditEntry('client_error', answer.status, `${answer.detail} (${error.code ?? 'no code'})`, ip, requestId)
  const recorded = guard.ledger.admit(`client-error:${clientNetwork(ip ?? '')}`, entry)
  if (!recorded) return respond(socket, answer, requestId)
  // stored before the answer leaves; a full disk must not keep the socket open: the answer still goes out
  guard.audit.record(recorded).then(
    () => respond(socket, answer, requestId),
    () => respond(socket, answer, requestId),
  )
}

function respond(socket: Socket, answer: { status: number; title: string; detail: string }, requestId: string): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const body = JSON.stringify({ type: problemType('client-error'), title: answer.title, status: answer.status, detail: answer.detail, instance: '-', request_id: requestId })
  socket.end(
    `HTTP/1.1 ${answer.status} ${answer.title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  )
}
