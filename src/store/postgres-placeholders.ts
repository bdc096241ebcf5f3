/**
 * The port's SQL numbers no parameters (`?`); PostgreSQL wants `$1, $2, …`. Only a `?` that is
 * SQL is a parameter: one inside a quoted literal or identifier, a comment or a dollar-quoted
 * body (a plpgsql function in a migration) is text and stays as it is.
 */

/** Rewritten texts kept: the stores run a fixed set of statement texts, so this stays small. */
const MAX_CACHED = 1000

const rewritten = new Map<string, string>()

/** `?` → `$1, $2, …` in order, outside literals, quoted identifiers, comments and dollar quotes. */
export function numberedPlaceholders(sql: string): string {
  let text = rewritten.get(sql)
  if (text === undefined) {
    if (rewritten.size >= MAX_CACHED) rewritten.clear()
    text = rewrite(sql)
    rewritten.set(sql, text)
  }
  return text
}

const DOLLAR_QUOTE = /\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y
const IDENTIFIER_CHAR = /[\w$\u0080-\uffff]/

function rewrite(sql: string): string {
  let out = ''
  let copiedUpTo = 0
  let parameter = 0
  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    const next = sql[i + 1]
    if (c === '?') {
      out += `${sql.slice(copiedUpTo, i)}$${++parameter}`
      copiedUpTo = ++i
    } else if (c === "'") {
      // E'…' (backslash escapes) only when the E is a word of its own, not the end of an identifier
      const escapes = /[Ee]/.test(sql[i - 1] ?? '') && !IDENTIFIER_CHAR.test(sql[i - 2] ?? '')
      i = endOfQuoted(sql, i, "'", escapes)
    } else if (c === '"') {
      i = endOfQuoted(sql, i, '"', false)
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (c === '/' && next === '*') {
      i = endOfBlockComment(sql, i)
    } else if (c === '$' && !IDENTIFIER_CHAR.test(sql[i - 1] ?? '')) {
      DOLLAR_QUOTE.lastIndex = i
      const tag = DOLLAR_QUOTE.exec(sql)?.[0]
      if (tag === undefined) {
        i++ // $1 written by hand, or a lone $
      } else {
        const end = sql.indexOf(tag, i + tag.length)
        i = end === -1 ? sql.length : end + tag.length
      }
    } else {
      i++
    }
  }
  return parameter === 0 ? sql : out + sql.slice(copiedUpTo)
}

/** Index after the quote that closes the one at `start`; a doubled quote is part of the text. */
function endOfQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1
  while (i < sql.length) {
    const c = sql[i]
    if (backslashEscapes && c === '\\') i += 2
    else if (c === quote && sql[i + 1] === quote) i += 2
    else if (c === quote) return i + 1
    else i++
  }
  return sql.length // unterminated: PostgreSQL will say so
}

/** Index after the comment starting at `start`; PostgreSQL's block comments nest. */
function endOfBlockComment(sql: string, start: number): number {
  let depth = 0
  let i = start
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++
      i += 2
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  return sql.length
}
