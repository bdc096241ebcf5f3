import { isIPv6 } from 'node:net'

/**
 * The caller's address as the rate limit counts it: an IPv4 address as it is, an IPv6 one as its
 * /64 network. One host is commonly given a whole /64, so counting each IPv6 address apart would
 * let it multiply its budget (and the rows counting it) by choosing new addresses.
 */
export function clientNetwork(ip: string): string {
  if (!isIPv6(ip)) return ip
  const address = ip.split('%')[0] as string // a zone index (fe80::1%eth0) names an interface, not a host
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)
  if (mapped) return mapped[1] as string
  return `${groupsOf(address).slice(0, 4).join(':')}::/64`
}

/** The eight 16-bit groups of a valid IPv6 address, as lowercase hex without leading zeros. */
function groupsOf(address: string): string[] {
  const parts = (text: string) => (text === '' ? [] : text.split(':'))
  // an IPv4 tail (::1.2.3.4, 64:ff9b::1.2.3.4) holds the last two groups
  const size = (list: string[]) => list.reduce((n, part) => n + (part.includes('.') ? 2 : 1), 0)
  const [left = '', right] = address.split('::')
  const head = parts(left)
  const tail = right === undefined ? [] : parts(right)
  const zeros = right === undefined ? [] : Array.from({ length: 8 - size(head) - size(tail) }, () => '0')
  return [...head, ...zeros, ...tail].flatMap((part) => (part.includes('.') ? ipv4Groups(part) : [Number.parseInt(part, 16).toString(16)]))
}

function ipv4Groups(dotted: string): string[] {
  const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number)
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)]
}
