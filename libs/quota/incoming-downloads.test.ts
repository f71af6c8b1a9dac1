import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../test/support/redis.js';
import { IncomingDownloads } from './incoming-downloads.js';

let redis: Redis;
const key = `test-${randomBytes(6).toString('hex')}:storage:all:incoming`;

beforeAll(async () => {
  redis = new Redis(await testRedisUrl());
});

afterAll(async () => {
  await redis?.del(key);
  redis?.disconnect();
});

describe('IncomingDownloads', () => {
  it('counts each download from its start until it arrived, across instances', async () => {
    const one = new IncomingDownloads(redis, key);
    const other = new IncomingDownloads(redis, key);
    const a = await one.begin('a'.repeat(64), 'job-a', 1000);
    const b = await other.begin('b'.repeat(64), 'job-b', 250);
    expect(await one.entries()).toEqual(
      expect.arrayContaining([
        { sha256: 'a'.repeat(64), size: 1000 },
        { sha256: 'b'.repeat(64), size: 250 },
      ]),
    );
    await a();
    expect(await other.entries()).toEqual([{ sha256: 'b'.repeat(64), size: 250 }]);
    await b();
    expect(await one.entries()).toEqual([]);
  });

  it('drops an entry a killed fetcher never ended once it lapsed', async () => {
    const downloads = new IncomingDownloads(redis, key);
    const dead = `${'d'.repeat(64)}/job-dead/5000`;
    await redis.zadd(key, Date.now() - 1, dead);
    await downloads.begin('c'.repeat(64), 'job-live', 10);
    expect(await downloads.entries()).toEqual([{ sha256: 'c'.repeat(64), size: 10 }]);
    expect(await redis.zscore(key, dead)).toBeNull();
  });
});
