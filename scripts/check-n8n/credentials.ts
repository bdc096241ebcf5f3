import type { N8nMapping } from '../../src/exports/mapping.js'
import { N8N_SECRET_CREDENTIAL_TYPE } from '../../src/exports/n8n.js'
import { WEBHOOK_SECRET_HEADER } from '../../src/exports/webhook.js'
import type { StepAction } from '../../src/playbooks/schema.js'

/**
 * The exports embed no credentials; after import a user picks one per node, as the sticky
 * note says. The check does the same with credentials that point at the test doubles.
 * Shapes verified against n8n 1.123.81 (notes: "Credentials").
 */

export interface CredentialRef {
  id: string
  name: string
}

export interface N8nCredential extends CredentialRef {
  type: string
  /** plaintext: `n8n import:credentials` encrypts it with N8N_ENCRYPTION_KEY */
  data: Record<string, string | number | boolean>
}

export interface Doubles {
  httpUrl: string
  smtpPort: number
  postgres: { host: string; port: number; database: string; user: string; password: string }
}

/** The value of the webhook secret the check's copies expect; the check sends it with every valid call. */
export const WEBHOOK_SECRET = 'check-n8n-secret-7f3a9c'

/** One credential per type the mappings ask for, each aimed at its double, and the webhook's secret. */
export function doubleCredentials(doubles: Doubles): N8nCredential[] {
  const pg = doubles.postgres
  return [
    // as the setup note tells a user: Name is the header, Value the secret
    { id: 'afbCheckSecret01', name: 'Webhook secret (check-n8n)', type: N8N_SECRET_CREDENTIAL_TYPE, data: { name: WEBHOOK_SECRET_HEADER, value: WEBHOOK_SECRET } },
    // the OpenAI node calls `${url}/chat/completions`
    { id: 'afbCheckOpenAi01', name: 'OpenAI (check-n8n stub)', type: 'openAiApi', data: { apiKey: 'sk-check-n8n', url: `${doubles.httpUrl}/v1` } },
    // `secure` defaults to true (implicit TLS) and STARTTLS would be tried: the stub speaks plain SMTP
    { id: 'afbCheckSmtp0001', name: 'SMTP (check-n8n stub)', type: 'smtp', data: { host: '127.0.0.1', port: doubles.smtpPort, secure: false, disableStartTls: true } },
    {
      id: 'afbCheckPostgres',
      name: 'Postgres (check-n8n embedded)',
      type: 'postgres',
      data: { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password, ssl: 'disable' },
    },
  ]
}

/** node type → credential type, read from the mappings (the same source the export's setup list comes from). */
export function credentialTypesByNodeType(mappings: Record<StepAction, N8nMapping>): Map<string, string> {
  const byType = new Map<string, string>()
  for (const mapping of Object.values(mappings)) {
    for (const node of mapping.nodes) if (node.credential) byType.set(node.type, node.credential.type)
  }
  return byType
}
