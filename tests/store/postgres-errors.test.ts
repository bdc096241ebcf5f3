import { describe, expect, it } from 'vitest'
import { isConnectionError } from '../../src/store/postgres-errors.js'

const withCode = (code: string, message = 'failed') => Object.assign(new Error(message), { code })

describe('telling an unreachable database from a failed statement', () => {
  it.each([
    ['connection refused', withCode('ECONNREFUSED')],
    ['connection reset', withCode('ECONNRESET')],
    ['admin shutdown (pg_terminate_backend, server stopping)', withCode('57P01')],
    ['crash shutdown', withCode('57P02')],
    ['cannot connect now (starting up, in recovery)', withCode('57P03')],
    ['class 08, connection failure', withCode('08006')],
    ['class 08, connection does not exist', withCode('08003')],
    ['too many connections', withCode('53300')],
    ['the socket closed under a query', new Error('Connection terminated unexpectedly')],
    ['the connect timeout', new Error('Connection terminated due to connection timeout')],
    ['no pooled connection came free in time', new Error('timeout exceeded when trying to connect')],
    ['a pool already closed', new Error('Cannot use a pool after calling end on the pool')],
    ['both addresses of localhost refused', new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')], 'connect failed')],
    ['a wrapped cause', new Error('could not read the workflow', { cause: withCode('57P01') })],
  ])('when %s, then it is a connection error', (_, err) => {
    expect(isConnectionError(err)).toBe(true)
  })

  it.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a statement timeout', withCode('57014')],
    ['a serialization failure', withCode('40001')],
    ['an error without a code', new Error('something else')],
    ['a thrown string', 'ECONNREFUSED'],
    ['nothing', undefined],
  ])('when %s, then it is not', (_, err) => {
    expect(isConnectionError(err)).toBe(false)
  })
})
