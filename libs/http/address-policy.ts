import dns from 'node:dns';
import net from 'node:net';

/**
 * Which addresses Orchard may connect to on an upstream's behalf. With `denyPrivateNetworks` on,
 * every address that is not publicly routable (loopback, RFC 1918, link-local — cloud metadata
 * services live there —, CGNAT, unique-local IPv6, unspecified, multicast, IPv4-mapped forms of
 * these) is refused unless its host is listed in `allowedHosts` (a host name, an IP address or a
 * CIDR range). The check runs on the addresses a name resolves to, at connect time, so a page or
 * redirect naming a public-looking host that resolves to a private address is refused too.
 */
export interface AddressPolicySettings {
  denyPrivateNetworks: boolean;
  /** Host names (exact, case-insensitive), IP addresses or CIDR ranges always allowed. */
  allowedHosts: string[];
}

/** A connection refused by the address policy; the message names the host and why, never a URL. */
export class DeniedAddressError extends Error {
  readonly code = 'ORCHARD_DENIED_ADDRESS';
  constructor(
    readonly host: string,
    readonly address: string,
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
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

function privateRanges(): net.BlockList {
  const list = new net.BlockList();
  for (const [address, prefix, family] of PRIVATE_RANGES) list.addSubnet(address, prefix, family);
  return list;
}

/** Decides per host and address; built once per process from settings. */
export class AddressPolicy {
  private readonly denied = privateRanges();
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

  get enabled(): boolean {
    return this.settings.denyPrivateNetworks;
  }

  /** Throws {@link DeniedAddressError} when `address` (which `host` resolved to) may not be connected to. */
  check(host: string, address: string): void {
    if (!this.settings.denyPrivateNetworks) return;
    const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
    if (this.allowedNames.has(bare)) return;
    const family = net.isIP(address);
    if (family === 0) throw new DeniedAddressError(bare, address);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowedAddresses.check(address, type)) return;
    const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined;
    if (mapped !== undefined) {
      if (this.allowedAddresses.check(mapped, 'ipv4')) return;
      if (this.denied.check(mapped, 'ipv4')) throw new DeniedAddressError(bare, address);
    }
    if (this.denied.check(address, type)) throw new DeniedAddressError(bare, address);
  }

  /** Checks a URL whose host is an IP literal (no lookup happens for those); names are checked by {@link lookup}. */
  checkUrl(url: string): void {
    if (!this.settings.denyPrivateNetworks) return;
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0) this.check(host, host);
  }

  /**
   * A `lookup` for `net.connect` that resolves as usual, then refuses when any resolved address is
   * denied (so the socket can only ever connect to an address that passed the check).
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      try {
        for (const { address } of addresses) this.check(hostname, address);
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
