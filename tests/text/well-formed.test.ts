import { describe, expect, it } from 'vitest'
import { boundedText, cutAtCodePoint, wellFormed } from '../../src/text/well-formed.js'

describe('well-formed text', () => {
  it('when a string holds a lone surrogate, then it becomes U+FFFD and pairs stay', () => {
    expect(wellFormed('a\ud800b\udc00c😀')).toBe('a\ufffdb\ufffdc😀')
  })

  it('when a cut would split a surrogate pair, then the whole pair is left off', () => {
    expect(cutAtCodePoint('ab😀', 3)).toBe('ab')
    expect(cutAtCodePoint('ab😀', 4)).toBe('ab😀')
    expect(cutAtCodePoint('abc', 2)).toBe('ab')
  })

  it('when text is longer than its bound in UTF-8, then its start is kept, whole code points only, and the rest is counted', () => {
    expect(boundedText('short', 100)).toBe('short')
    const cut = boundedText('é'.repeat(1000), 100)
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(100)
    expect(cut).toMatch(/^é+…\(\d+ more characters\)$/)
    const kept = cut.length - cut.slice(cut.indexOf('…')).length
    expect(cut).toContain(`(${1000 - kept} more characters)`)
    const emoji = boundedText('😀'.repeat(1000), 100)
    expect(emoji.slice(0, emoji.indexOf('…'))).toMatch(/^(😀)+$/u)
    expect(boundedText('\ud800'.repeat(10), 1000)).toBe('\ufffd'.repeat(10))
  })
})
