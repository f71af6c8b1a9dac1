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
    const a = await one.begin('job-a', 1000);
    const b = await other.begin('job-b', 250);
    expect(await one.bytes()).toBe(1250);
    await a();
    expect(await other.bytes()).toBe(250);
    await b();
    expect(await one.bytes()).toBe(0);
  });

  it('drops an entry a killed fetcher never ended once it lapsed', async () => {
    const downloads = new IncomingDownloads(redis, key);
    await redis.zadd(key, Date.now() - 1, 'job-dead/5000');
    await downloads.begin('job-live', 10);
    expect(await downloads.bytes()).toBe(10);
    expect(await redis.zscore(key, 'job-dead/5000')).toBeNull();
  });
});
