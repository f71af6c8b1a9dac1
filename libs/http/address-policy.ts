import dns from 'node:dns';
import net from 'node:net';

/**
 * Which addresses Orchard may connect to on an upstream's behalf. Addresses that are not publicly
 * routable (loopback, RFC 1918, link-local — cloud metadata services live there —, CGNAT,
 * unique-local IPv6, unspecified, multicast, and IPv6 forms embedding such an IPv4: IPv4-mapped,
 * IPv4-compatible, IPv4-translated, NAT64 `64:ff9b::/96`, 6to4) are refused:
 * - always for every origin other than the upstream's own (a file host or redirect target named by
 *   a page could otherwise make Orchard fetch from its internal network);
 * - for the upstream's own origin too when `denyPrivateNetworks` is on.
 * Hosts in `allowedHosts` (a host name, an IP address or a CIDR range) are exempt. The check runs
 * on the addresses a name resolves to, at connect time (the socket connects to an address that
 * passed the check, so a name re-resolving to another address later cannot slip through).
 */
export interface AddressPolicySettings {
  /** Refuse private addresses for the upstream's own origin as well (ORCHARD_DENY_PRIVATE_NETWORKS). */
  denyPrivateNetworks: boolean;
  /** Host names (exact, case-insensitive), IP addresses or CIDR ranges always allowed. */
  allowedHosts: string[];
}

/**
 * Whose connection was refused: the upstream's own origin (its operator configured it, so the
 * message may name host and address) or another origin a page or redirect pointed at (the message
 * then says nothing about what the name resolved to).
 */
export type DeniedScope = 'upstream-origin' | 'other-origin';

/** A connection refused by the address policy; the message never carries a URL. */
export class DeniedAddressError extends Error {
  readonly code = 'ORCHARD_DENIED_ADDRESS';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly scope: DeniedScope,
  ) {
    super(host === address ? `${address} is a private address` : `${host} resolves to the private address ${address}`);
    this.name = 'DeniedAddressError';
  }
}

const PRIVATE_RANGES: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  // Local-use NAT64 (RFC 8215): translates to whatever the local network routes.
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fec0::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

const DENIED = (() => {
  const list = new net.BlockList();
  for (const [address, prefix, family] of PRIVATE_RANGES) list.addSubnet(address, prefix, family);
  return list;
})();

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, trailing dotted quad folded in). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - front.length - back.length).fill('0');
  return [...front, ...zeros, ...back].map((group) => parseInt(group, 16));
}

function ipv4From(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped `::ffff:a.b.c.d`,
 * IPv4-compatible `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d` and
 * 6to4 `2002:aabb:ccdd::/48`.
 */
export function embeddedIPv4(address: string): string | undefined {
  if (net.isIPv6(address) === false) return undefined;
  const g = ipv6Groups(address);
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(5) && g[5] === 0xffff) return ipv4From(g[6]!, g[7]!);
  if (zeroUpTo(6)) return ipv4From(g[6]!, g[7]!);
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return ipv4From(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return ipv4From(g[6]!, g[7]!);
  if (g[0] === 0x2002) return ipv4From(g[1]!, g[2]!);
  return undefined;
}

/** Whether an IP address is loopback, private, link-local or otherwise not publicly routable (directly or through an embedded IPv4). */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) return true;
  if (family === 4) return DENIED.check(address, 'ipv4');
  if (DENIED.check(address, 'ipv6')) return true;
  const v4 = embeddedIPv4(address);
  return v4 !== undefined && DENIED.check(v4, 'ipv4');
}

/** Decides per host and address; built once per process from settings. */
export class AddressPolicy {
  private readonly allowedNames = new Set<string>();
  private readonly allowedAddresses = new net.BlockList();

  constructor(private readonly settings: AddressPolicySettings) {
    for (const entry of settings.allowedHosts) {
      const [address, prefix] = entry.split('/');
      const family = net.isIP(address ?? '');
      if (family === 0) {
        this.allowedNames.add(entry.toLowerCase());
      } else if (prefix === undefined) {
        this.allowedAddresses.addAddress(address!, family === 4 ? 'ipv4' : 'ipv6');
      } else {
        this.allowedAddresses.addSubnet(address!, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
      }
    }
  }

  /** Whether connections to the upstream's own origin are checked too (they always are for other origins). */
  get checksUpstreamOrigin(): boolean {
    return this.settings.denyPrivateNetworks;
  }

  /** Throws {@link DeniedAddressError} when `address` (which `host` resolved to) may not be connected to. */
  check(host: string, address: string, scope: DeniedScope): void {
    const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (this.allowedNames.has(bare) || this.isAllowedAddress(address)) return;
    if (isPrivateAddress(address)) throw new DeniedAddressError(bare, address, scope);
  }

  /** Checks a host that is an IP literal (no lookup happens for those); names are checked by {@link lookupFor}. */
  checkLiteral(host: string, scope: DeniedScope): void {
    const bare = host.replace(/^\[|\]$/g, '');
    if (net.isIP(bare) !== 0) this.check(bare, bare, scope);
  }

  /**
   * A `lookup` for `net.connect` that resolves as usual, then refuses when any resolved address is
   * denied (so the socket can only ever connect to an address that passed the check).
   */
  lookupFor(scope: DeniedScope): net.LookupFunction {
    return (hostname, options, callback) => {
      dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
        if (err) return callback(err, '', 0);
        try {
          for (const { address } of addresses) this.check(hostname, address, scope);
        } catch (denied) {
          return callback(denied as NodeJS.ErrnoException, '', 0);
        }
        if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
        const first = addresses[0];
        if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
        callback(null, first.address, first.family);
      });
    };
  }

  private isAllowedAddress(address: string): boolean {
    const family = net.isIP(address);
    if (family === 0) return false;
    if (this.allowedAddresses.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true;
    const v4 = family === 6 ? embeddedIPv4(address) : undefined;
    return v4 !== undefined && this.allowedAddresses.check(v4, 'ipv4');
  }
}
