import { describe, expect, it } from 'vitest'
import { numberedPlaceholders } from '../../src/store/postgres-placeholders.js'

describe('numbering ? for PostgreSQL', () => {
  it('when a statement has parameters, then they become $1, $2, … in order', () => {
    expect(numberedPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?) LIMIT ?')).toBe('SELECT * FROM t WHERE a = $1 AND b IN ($2, $3) LIMIT $4')
  })

  it('when a ? is inside a string literal, then it stays text, also next to doubled quotes', () => {
    expect(numberedPlaceholders("SELECT '?', 'it''s ?', ? FROM t WHERE c = '?'")).toBe("SELECT '?', 'it''s ?', $1 FROM t WHERE c = '?'")
  })

  it("when a literal is E'…', then a backslash-escaped quote does not end it", () => {
    expect(numberedPlaceholders("SELECT E'\\' ?', ?")).toBe("SELECT E'\\' ?', $1")
    // an identifier ending in e is not an E-string: the backslash there is text and the quote ends the literal
    expect(numberedPlaceholders("SELECT name'\\', ?")).toBe("SELECT name'\\', $1")
  })

  it('when a ? is in a quoted identifier, a comment or a dollar-quoted body, then it stays text', () => {
    const sql = [
      'SELECT "what?" FROM t -- why?',
      'WHERE a = ? /* outer ? /* nested ? */ still ? */ AND b = ?',
      "AND c = $$ ? $$ AND d = $body$ it's ? $$ ? $body$ AND e = ?",
    ].join('\n')
    expect(numberedPlaceholders(sql)).toBe(
      [
        'SELECT "what?" FROM t -- why?',
        'WHERE a = $1 /* outer ? /* nested ? */ still ? */ AND b = $2',
        "AND c = $$ ? $$ AND d = $body$ it's ? $$ ? $body$ AND e = $3",
      ].join('\n'),
    )
  })

  it('when $ is part of an identifier, then it opens no dollar quote', () => {
    expect(numberedPlaceholders('SELECT a$b$c, ? FROM t$x$')).toBe('SELECT a$b$c, $1 FROM t$x$')
  })

  it('when a statement has no ?, then the very same text comes back (a migration with plpgsql and comments)', () => {
    const sql = "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$; -- done?"
    expect(numberedPlaceholders(sql)).toBe(sql)
  })

  it('when a literal is not closed, then the rest is left for PostgreSQL to refuse', () => {
    expect(numberedPlaceholders("SELECT ?, 'open ?")).toBe("SELECT $1, 'open ?")
  })
})
