import { decodeCursor } from '../store/cursor.js'
import { BadRequest } from './problem.js'

/** The `cursor` query parameter of list endpoints → the sequence number to list below. */
export function cursorToSeq(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined
  const seq = decodeCursor(cursor)
  if (seq === undefined) throw new BadRequest('cursor is not one this service handed out', [{ path: 'cursor', in: 'querystring', message: 'unknown cursor' }])
  return seq
}
