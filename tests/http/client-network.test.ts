import { describe, expect, it } from 'vitest'
import { clientNetwork } from '../../src/http/client-network.js'

describe('the network a caller is counted by', () => {
  it('when the address is IPv4 (or IPv4-mapped IPv6), then it is the address itself', () => {
    expect(clientNetwork('192.0.2.1')).toBe('192.0.2.1')
    expect(clientNetwork('::ffff:192.0.2.1')).toBe('192.0.2.1')
    expect(clientNetwork('not an address')).toBe('not an address')
  })

  it('when the address is IPv6, then it is its /64, however the address is written', () => {
    const written = ['2001:db8:0:7::1', '2001:0DB8:0000:0007:0000:0000:0000:0001', '2001:db8::7:ffff:1:2:3', '2001:db8:0:7:0:0:1.2.3.4', '2001:db8:0:7::%eth0']
    for (const address of written) expect(clientNetwork(address), address).toBe('2001:db8:0:7::/64')
    expect(clientNetwork('::1')).toBe('0:0:0:0::/64')
    expect(clientNetwork('2001:db8:1:2::')).toBe('2001:db8:1:2::/64')
    expect(clientNetwork('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64')
  })
})
