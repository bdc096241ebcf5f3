import { createHash, timingSafeEqual } from 'node:crypto'

export const ROLES = ['ingest', 'read', 'commit', 'admin'] as const
export type Role = (typeof ROLES)[number]

export interface ApiKey {
  id: string
  roles: ReadonlySet<Role>
  /** sha256 of the secret; the plaintext is never kept */
  secretHash: Buffer
}

/** Actor names the service itself uses. */
const RESERVED_IDS = ['webhook', 'anonymous']

export class KeyConfigError extends Error {
  override name = 'KeyConfigError'
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()
const KEY_ID = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * Parses `id:roles:secret` entries (comma or newline separated; `#` starts a comment line).
 * Roles are joined by `+`; a secret written `sha256:<64 hex>` is already hashed, so config files
 * need not hold a plaintext key. `where` names the source in error messages.
 */
export function parseApiKeys(text: string, where: string): ApiKey[] {
  const keys: ApiKey[] = []
  const entries = text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e && !e.startsWith('#'))
  for (const [n, entry] of entries.entries()) {
    const [id = '', roleList = '', ...secretParts] = entry.split(':')
    const secret = secretParts.join(':')
    const label = `${where} entry ${n + 1} (${KEY_ID.test(id) ? id : 'invalid id'})`
    if (!KEY_ID.test(id)) throw new KeyConfigError(`${label}: the id must match ${KEY_ID}; format is id:roles:secret`)
    const roles = roleList.split('+').filter(Boolean)
    const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r))
    if (roles.length === 0 || unknown.length > 0) {
      throw new KeyConfigError(`${label}: roles must be ${ROLES.join(', ')} joined by +${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`)
    }
    let secretHash: Buffer
    if (secret.startsWith('sha256:')) {
      const hex = secret.slice('sha256:'.length)
      if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new KeyConfigError(`${label}: sha256: must be followed by 64 hex digits`)
      secretHash = Buffer.from(hex, 'hex')
    } else {
      if (secret.length < 16) throw new KeyConfigError(`${label}: the secret must be at least 16 characters`)
      secretHash = sha256(secret)
    }
    if (keys.some((k) => k.id === id)) throw new KeyConfigError(`${label}: the id ${id} is used twice`)
    // signed webhooks act as "webhook": a key of that name would share their audit actor and idempotency scope
    if (RESERVED_IDS.includes(id)) throw new KeyConfigError(`${label}: the id ${id} is reserved for signed webhooks; choose another`)
    keys.push({ id, roles: new Set(roles as Role[]), secretHash })
  }
  return keys
}

/**
 * The key a presented secret belongs to. Every configured key is compared, each in constant
 * time, so neither the answer's timing nor its position in the list leaks which one matched.
 */
export function findKey(keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const hash = sha256(presented)
  let found: ApiKey | undefined
  for (const key of keys) {
    if (timingSafeEqual(hash, key.secretHash) && !found) found = key
  }
  return found
}

export function hasRole(key: Pick<ApiKey, 'roles'>, role: Role): boolean {
  return key.roles.has('admin') || key.roles.has(role)
}
