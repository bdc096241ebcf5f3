import { createHmac, timingSafeEqual } from 'node:crypto'

/** Standard Webhooks 1.0: signatures within ±5 minutes of our clock are accepted. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60

export type WebhookVerdict = { ok: true; id: string } | { ok: false; reason: string }

/** `whsec_<base64>` → the HMAC key bytes. */
export function webhookKey(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
  if (key.length < 16) throw new Error('WEBHOOK_SECRET must be whsec_ followed by at least 16 bytes of base64')
  return key
}

/**
 * Checks `webhook-signature` (space-separated `v1,<base64>` entries) against HMAC-SHA256 over
 * `id.timestamp.body` — the raw body bytes as received — in constant time.
 */
export function verifyWebhook(
  key: Buffer,
  headers: { id?: string; timestamp?: string; signature?: string },
  rawBody: Buffer,
  nowSeconds: number,
): WebhookVerdict {
  const { id, timestamp, signature } = headers
  if (!id || !timestamp || !signature) return { ok: false, reason: 'webhook-id, webhook-timestamp and webhook-signature are all required' }
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'webhook-timestamp must be unix seconds' }
  if (Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) {
    return { ok: false, reason: `webhook-timestamp is more than ${WEBHOOK_TOLERANCE_SECONDS / 60} minutes from the server's clock` }
  }
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(rawBody).digest()
  let matched = false
  for (const entry of signature.split(' ')) {
    const [version, value] = entry.split(',', 2)
    if (version !== 'v1' || !value) continue
    const given = Buffer.from(value, 'base64')
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true
  }
  return matched ? { ok: true, id } : { ok: false, reason: 'no v1 signature matches' }
}
