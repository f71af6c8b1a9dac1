import { describe, expect, it } from 'vitest';
import { describeRedisTarget, parseRedisUrl, queuePrefixFor } from './redis-url.js';

describe('parseRedisUrl', () => {
  it('takes one server as a plain redis:// or rediss:// URL', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/0')).toEqual({ mode: 'single', url: 'redis://127.0.0.1:6379/0', tls: false });
    expect(parseRedisUrl('rediss://user:p%40ss@cache.example:6380/2')).toMatchObject({ mode: 'single', tls: true, username: 'user', password: 'p@ss' });
  });

  it('takes a Sentinel set with the master name and database', () => {
    expect(parseRedisUrl('redis+sentinel://:secret@10.0.0.1:26379,10.0.0.2:26379/orchard/3?sentinelPassword=s2')).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
      ],
      masterName: 'orchard',
      db: 3,
      password: 'secret',
      sentinelPassword: 's2',
      tls: false,
    });
    expect(parseRedisUrl('redis+sentinel://s1:26379/mymaster')).toMatchObject({ db: 0, masterName: 'mymaster' });
  });

  it('takes a Cluster by its seed nodes (IPv6 in brackets)', () => {
    expect(parseRedisUrl('rediss+cluster://default:pw@a.example:7000,[::1]:7001')).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'a.example', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      username: 'default',
      password: 'pw',
      tls: true,
    });
  });

  it.each([
    ['http://127.0.0.1:6379', /redis:\/\//],
    ['redis+cluster://a:7000,b', /host:port/],
    ['redis+cluster://a:7000/1', /database 0/],
    ['redis+sentinel://a:26379', /name the master/],
    ['redis+sentinel://a:26379/m/x', /database number/],
    ['redis+cluster://a:99999', /host:port/],
  ])('refuses %s with a message saying why', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('never puts the password in its description or its errors', () => {
    for (const url of ['redis://u:hunter2@h:1/0', 'redis+sentinel://:hunter2@h:1/m', 'redis+cluster://:hunter2@h:1'])
      expect(describeRedisTarget(parseRedisUrl(url))).not.toContain('hunter2');
    expect(() => parseRedisUrl('redis+cluster://:hunter2@h')).toThrow(/^(?!.*hunter2)/);
  });

  it('hash-tags the queue prefix on a Cluster only', () => {
    expect(queuePrefixFor(parseRedisUrl('redis+cluster://h:1'), 'orchard-bull')).toBe('{orchard-bull}');
    expect(queuePrefixFor(parseRedisUrl('redis://h:1'), 'orchard-bull')).toBe('orchard-bull');
    expect(queuePrefixFor(parseRedisUrl('redis+sentinel://h:1/m'), 'orchard-bull')).toBe('orchard-bull');
  });
});
