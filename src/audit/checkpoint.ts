import { accessSync, closeSync, constants, existsSync, fsyncSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs'
import path from 'node:path'
import { createPrivateKey, createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto'
import { z } from 'zod'
import { canonicalJson } from './chain.js'

/**
 * A signed statement "entry `seq` of the audit chain has hash `hash`", made at `at`. Kept in the
 * database, appended to AUDIT_CHECKPOINT_FILE and logged, as CloudTrail keeps signed digest files
 * outside the log they cover: a rewrite of any entry at or below `seq` no longer passes through it.
 */
export const Checkpoint = z.object({
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string(),
  key_id: z.string(),
  signature: z.string(),
})
export type Checkpoint = z.infer<typeof Checkpoint>

/** What is signed: a fixed prefix (so the signature means nothing elsewhere), then canonical JSON of at, hash and seq. */
export function signedBytes(checkpoint: Pick<Checkpoint, 'seq' | 'hash' | 'at'>): Buffer {
  const { seq, hash: entryHash, at } = checkpoint
  return Buffer.from(`auto-feature-builder audit checkpoint v1\n${canonicalJson({ at, hash: entryHash, seq })}`)
}

/** The first 16 hex digits of sha256 over the public key (SPKI DER): which key signed. */
export function keyId(publicKey: KeyObject): string {
  return hash('sha256', publicKey.export({ type: 'spki', format: 'der' }), 'hex').slice(0, 16)
}

export function signCheckpoint(privateKey: KeyObject, at: string, head: { seq: number; hash: string }): Checkpoint {
  const unsigned = { seq: head.seq, hash: head.hash, at }
  return { ...unsigned, key_id: keyId(createPublicKey(privateKey)), signature: sign(null, signedBytes(unsigned), privateKey).toString('base64') }
}

export type SignatureCheck = 'valid' | 'invalid' | 'other-key'

export function checkSignature(publicKey: KeyObject, checkpoint: Checkpoint): SignatureCheck {
  if (checkpoint.key_id !== keyId(publicKey)) return 'other-key'
  try {
    return verify(null, signedBytes(checkpoint), publicKey, Buffer.from(checkpoint.signature, 'base64')) ? 'valid' : 'invalid'
  } catch {
    return 'invalid'
  }
}

/** AUDIT_SIGNING_KEY_FILE → the Ed25519 private key; throws a readable Error otherwise. */
export function readSigningKey(file: string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey(readFileSync(file))
  } catch (err) {
    throw new Error(`AUDIT_SIGNING_KEY_FILE ${file}: not a readable PEM private key (${(err as Error).message}); make one with: openssl genpkey -algorithm ed25519 -out audit-signing.pem`, { cause: err })
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`AUDIT_SIGNING_KEY_FILE ${file}: holds a ${key.asymmetricKeyType} key; checkpoints are signed with Ed25519 (openssl genpkey -algorithm ed25519)`)
  }
  return key
}

/** One checkpoint per line, appended and fsynced, so a line the caller saw written survives a crash. */
export function appendCheckpoints(file: string, checkpoints: readonly Checkpoint[], startNewLine = false): void {
  const text = `${startNewLine ? '\n' : ''}${checkpoints.map((c) => `${canonicalJson(c)}\n`).join('')}`
  const fd = openSync(file, 'a', 0o644)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export interface CheckpointFile {
  exists: boolean
  checkpoints: Checkpoint[]
  /** 1-based numbers of lines that are not a checkpoint (a torn write, or an edit) */
  unreadableLines: number[]
  /** the last line has no newline: an append was cut short */
  tornTail: boolean
}

export function readCheckpointFile(file: string): CheckpointFile {
  if (!existsSync(file)) return { exists: false, checkpoints: [], unreadableLines: [], tornTail: false }
  const text = readFileSync(file, 'utf8')
  const lines = text.split('\n')
  const tornTail = lines.at(-1) !== ''
  if (!tornTail) lines.pop()
  const checkpoints: Checkpoint[] = []
  const unreadableLines: number[] = []
  lines.forEach((line, i) => {
    let parsed: ReturnType<typeof Checkpoint.safeParse> | undefined
    try {
      parsed = Checkpoint.safeParse(JSON.parse(line))
    } catch {
      parsed = undefined
    }
    if (parsed?.success) checkpoints.push(parsed.data)
    else unreadableLines.push(i + 1)
  })
  return { exists: true, checkpoints, unreadableLines, tornTail }
}

/** Whether `file` is `dir` or inside it, following symbolic links as far as the paths exist. */
function isInside(dir: string, file: string): boolean {
  const real = (p: string): string => {
    if (existsSync(p)) return realpathSync(p)
    const parent = path.dirname(p)
    return parent === p ? p : path.join(real(parent), path.basename(p))
  }
  const relative = path.relative(real(dir), real(file))
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))
}

/**
 * AUDIT_SIGNING_KEY_FILE and AUDIT_CHECKPOINT_FILE → the key and the file; throws a readable Error.
 * Both must live outside DATA_DIR: whoever can rewrite the database must not also hold the key, nor
 * reach the file that anchors it.
 */
export function loadAnchoring(keyFile: string | undefined, checkpointFile: string | undefined, dataDir: string): { auditSigningKey: KeyObject | undefined; auditCheckpointFile: string | undefined } {
  const file = checkpointFile === undefined ? undefined : path.resolve(checkpointFile)
  if (file && !keyFile) throw new Error('AUDIT_CHECKPOINT_FILE is set but AUDIT_SIGNING_KEY_FILE is not: checkpoints need a key to be signed with')
  if (keyFile && isInside(dataDir, path.resolve(keyFile))) throw new Error(`AUDIT_SIGNING_KEY_FILE ${keyFile} is inside DATA_DIR; keep the key where a copy of the data cannot take it along`)
  if (file && isInside(dataDir, file)) throw new Error(`AUDIT_CHECKPOINT_FILE ${checkpointFile} is inside DATA_DIR; an anchor must live outside the database's folder`)
  if (file) {
    try {
      accessSync(existsSync(file) ? file : path.dirname(file), constants.W_OK)
    } catch (err) {
      throw new Error(`AUDIT_CHECKPOINT_FILE ${checkpointFile} cannot be appended to: ${(err as Error).message}`, { cause: err })
    }
  }
  return { auditSigningKey: keyFile ? readSigningKey(keyFile) : undefined, auditCheckpointFile: file }
}
