import type { N8nMapping } from '../../src/exports/mapping.js'
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

/** One credential per type the mappings ask for, each aimed at its double. */
export function doubleCredentials(doubles: Doubles): N8nCredential[] {
  const pg = doubles.postgres
  return [
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
