import { z } from 'zod'

const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .describe('Retries with the same key and payload replay the first answer (header idempotent-replayed: true); kept 24 h')

/** Loose: only documents the headers these routes read; every other header passes untouched. */
export const IdempotentHeaders = z.looseObject({ 'idempotency-key': idempotencyKey })

export const IngestHeaders = z.looseObject({
  'idempotency-key': idempotencyKey,
  'webhook-id': z.string().optional().describe('Standard Webhooks: the message id (also the idempotency key)'),
  'webhook-timestamp': z.string().optional().describe('Standard Webhooks: unix seconds; ±5 minutes'),
  'webhook-signature': z.string().optional().describe('Standard Webhooks: space-separated v1,<base64 HMAC-SHA256 of "id.timestamp.body">'),
})
