import { createHash } from 'node:crypto'

/** The id git gives a blob with this content (SHA-1 object format), computed without touching the repository. */
export function blobId(content: string): string {
  const body = Buffer.from(content, 'utf8')
  return createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex')
}
