/**
 * Text a caller sent, made safe to store and to quote. JavaScript strings may hold lone surrogates
 * (a JSON body's "\ud800"); UTF-8 cannot, so git, PostgreSQL and every reader see U+FFFD instead.
 * Making text well-formed here, before it is cut or echoed, keeps what we answer equal to what was stored.
 */

const LONE_SURROGATE = /\p{Cs}/gu
const utf8 = new TextEncoder()

/** `text` with each lone surrogate replaced by U+FFFD, as UTF-8 encoders do. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD')
}

/** The first `maxUnits` UTF-16 units of well-formed text, one fewer when that would split a surrogate pair. */
export function cutAtCodePoint(text: string, maxUnits: number): string {
  if (text.length <= maxUnits) return text
  const last = text.charCodeAt(maxUnits - 1)
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? maxUnits - 1 : maxUnits)
}

/**
 * `text`, well-formed and at most `maxBytes` of UTF-8: a longer one keeps its start, cut at a code
 * point, and says how much was left off. The work is bounded by `maxBytes` past one linear scan.
 */
export function boundedText(text: string, maxBytes: number): string {
  const whole = wellFormed(text)
  // every UTF-16 unit is at most 3 bytes of UTF-8: short text needs no count
  if (whole.length * 3 <= maxBytes || Buffer.byteLength(whole) <= maxBytes) return whole
  const marker = (left: number) => `…(${left} more characters)`
  // encodeInto stops before a character that does not fit: never half a code point
  const { read } = utf8.encodeInto(whole, new Uint8Array(Math.max(0, maxBytes - Buffer.byteLength(marker(whole.length)))))
  return `${whole.slice(0, read)}${marker(whole.length - read)}`
}
