/** Opaque paging cursors: the last row's sequence number, base64url-encoded. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`, 'utf8').toString('base64url')
}

/** undefined when the text is not a cursor this service made. */
export function decodeCursor(cursor: string): number | undefined {
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const match = /^s(\d{1,15})$/.exec(text)
  return match ? Number(match[1]) : undefined
}
