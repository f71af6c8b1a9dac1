import { describe, expect, it } from 'vitest';
import { AddressPolicy, DeniedAddressError } from './address-policy.js';

const deny = (allowedHosts: string[] = []) => new AddressPolicy({ denyPrivateNetworks: true, allowedHosts });

describe('AddressPolicy', () => {
  it('allows everything when off (the default)', () => {
    const policy = new AddressPolicy({ denyPrivateNetworks: false, allowedHosts: [] });
    expect(() => policy.check('h', '10.0.0.1')).not.toThrow();
    expect(() => policy.checkUrl('http://127.0.0.1/')).not.toThrow();
  });

  it.each([
    '0.0.0.0', '10.1.2.3', '100.64.0.1', '127.0.0.1', '127.9.9.9', '169.254.169.254', '172.16.0.1', '172.31.255.255',
    '192.168.1.1', '198.18.0.1', '224.0.0.1', '::', '::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1',
  ])('denies %s', (address) => {
    expect(() => deny().check('host.example', address)).toThrow(DeniedAddressError);
  });

  it.each(['8.8.8.8', '151.101.0.223', '172.32.0.1', '192.169.0.1', '2a04:4e42::223', '::ffff:8.8.8.8'])('allows the public address %s', (address) => {
    expect(() => deny().check('host.example', address)).not.toThrow();
  });

  it('exempts allowed host names, addresses and CIDR ranges', () => {
    const policy = deny(['pypi.internal', '10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
    expect(() => policy.check('PyPI.internal', '10.9.9.9')).not.toThrow();
    expect(() => policy.check('other', '10.0.0.5')).not.toThrow();
    expect(() => policy.check('other', '::ffff:10.0.0.5')).not.toThrow();
    expect(() => policy.check('other', '192.168.44.1')).not.toThrow();
    expect(() => policy.check('other', 'fd00::1')).not.toThrow();
    expect(() => policy.check('other', '10.0.0.6')).toThrow(/other resolves to the private address 10.0.0.6/);
  });

  it('checks IP-literal URLs (which are never looked up), not names', () => {
    expect(() => deny().checkUrl('http://127.0.0.1:8080/simple/')).toThrow(/127.0.0.1 is a private address/);
    expect(() => deny().checkUrl('http://[::1]/simple/')).toThrow(DeniedAddressError);
    expect(() => deny().checkUrl('https://pypi.org/simple/')).not.toThrow();
  });
});
