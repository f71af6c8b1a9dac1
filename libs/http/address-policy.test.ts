import { describe, expect, it } from 'vitest';
import { AddressPolicy, DeniedAddressError, embeddedIPv4, isPrivateAddress } from './address-policy.js';

const policy = (allowedHosts: string[] = []) => new AddressPolicy({ denyPrivateNetworks: false, allowedHosts });

describe('AddressPolicy', () => {
  it.each([
    '0.0.0.0',
    '10.1.2.3',
    '100.64.0.1',
    '127.0.0.1',
    '127.9.9.9',
    '169.254.169.254',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '198.18.0.1',
    '224.0.0.1',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    // IPv4-mapped in hex, IPv4-compatible, IPv4-translated, NAT64 (well-known and local-use), 6to4.
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::127.0.0.1',
    '::a9fe:a9fe',
    '::ffff:0:10.0.0.1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::c0a8:101',
    '64:ff9b:1::8.8.8.8',
    '2002:7f00:1::1',
    '2002:a9fe:a9fe::',
  ])('denies %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
    expect(() => policy().check('host.example', address, 'other-origin')).toThrow(DeniedAddressError);
  });

  it.each(['8.8.8.8', '151.101.0.223', '172.32.0.1', '192.169.0.1', '2a04:4e42::223', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
    'allows the public address %s',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
      expect(() => policy().check('host.example', address, 'other-origin')).not.toThrow();
    },
  );

  it('reads the IPv4 address embedded in IPv6 forms', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::FFFF:7F00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('2002:c0a8:0101::')).toBe('192.168.1.1');
    expect(embeddedIPv4('2a04:4e42::223')).toBeUndefined();
    expect(embeddedIPv4('10.0.0.1')).toBeUndefined();
  });

  it('exempts allowed host names, addresses and CIDR ranges, also in their IPv6 forms', () => {
    const allowing = policy(['pypi.internal', '10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
    expect(() => allowing.check('PyPI.internal', '10.9.9.9', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', '10.0.0.5', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', '::ffff:10.0.0.5', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', '64:ff9b::a00:5', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', '192.168.44.1', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', 'fd00::1', 'other-origin')).not.toThrow();
    expect(() => allowing.check('other', '10.0.0.6', 'other-origin')).toThrow(/other resolves to the private address 10.0.0.6/);
  });

  it('checks IP-literal hosts (which are never looked up), not names', () => {
    expect(() => policy().checkLiteral('127.0.0.1', 'other-origin')).toThrow(/127.0.0.1 is a private address/);
    expect(() => policy().checkLiteral('[::1]', 'other-origin')).toThrow(DeniedAddressError);
    expect(() => policy().checkLiteral('[::ffff:169.254.169.254]', 'other-origin')).toThrow(DeniedAddressError);
    expect(() => policy().checkLiteral('pypi.org', 'other-origin')).not.toThrow();
  });

  it('checks the upstream origin only with ORCHARD_DENY_PRIVATE_NETWORKS', () => {
    expect(policy().checksUpstreamOrigin).toBe(false);
    expect(new AddressPolicy({ denyPrivateNetworks: true, allowedHosts: [] }).checksUpstreamOrigin).toBe(true);
  });

  it('refuses through the connect-time lookup a name resolving to a private address', async () => {
    const lookup = policy().lookupFor('other-origin');
    const err = await new Promise<Error | null>((resolve) => lookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err).toBeInstanceOf(DeniedAddressError);
    expect((err as DeniedAddressError).scope).toBe('other-origin');
  });
});
