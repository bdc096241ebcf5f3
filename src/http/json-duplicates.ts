/**
 * The first object key that appears twice in the same object of a JSON text, or null.
 * JSON.parse silently keeps the last one, so `{"dry_run": true, "dry_run": false}` would mean
 * whatever the last writer wanted; we refuse such bodies instead. Iterative (no recursion), so a
 * 20 000-deep document cannot overflow the stack. Expects text that JSON.parse already accepted.
 */
export function findDuplicateKey(text: string): string | null {
  const stack: Array<Set<string> | null> = [] // a Set per open object, null per open array
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '{') {
      stack.push(new Set())
      expectKey = true
    } else if (ch === '[') {
      stack.push(null)
      expectKey = false
    } else if (ch === '}' || ch === ']') {
      stack.pop()
      expectKey = false
    } else if (ch === ',') {
      expectKey = stack.at(-1) instanceof Set
    } else if (ch === '"') {
      let end = i + 1
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      if (expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string
        const keys = stack.at(-1)
        if (keys?.has(key)) return key
        keys?.add(key)
        expectKey = false
      }
      i = end
    }
  }
  return null
}
