import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../libs/db/index.js';
import { UpstreamError } from '../../libs/http/index.js';
import { createLogger } from '../../libs/log/index.js';
import { errorHandler, toHttpError } from './http-errors.js';

const prisma = createPrismaClient({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/none', poolSize: 1, connectionTimeoutMs: 1_000 });
afterAll(() => prisma.$disconnect());

const databaseDown = () =>
  prisma.artifact.findMany().then(
    () => expect.fail('PostgreSQL answered on port 1'),
    (err: unknown) => err,
  );

describe('the error handler and a database outage', () => {
  it('maps a Prisma connection failure to 503 with Retry-After, not a 500', async () => {
    const mapped = toHttpError(await databaseDown());
    expect(mapped).toMatchObject({ status: 503, code: 'database_unavailable', message: 'the database is unavailable right now; retry later' });
    expect(mapped!.headers['Retry-After']).toMatch(/^\d+$/);

    const app = express();
    app.get('/boom', async () => {
      throw await databaseDown();
    });
    app.use(errorHandler(createLogger('gateway', 'silent')));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/boom`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(await res.text()).toBe('the database is unavailable right now; retry later\n');
    } finally {
      server.close();
    }
  });

  it('leaves an upstream refusing connections a 502, although it carries the same socket code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(toHttpError(new UpstreamError('unreachable', 'upstream local is unreachable', undefined, { cause: refused }))).toMatchObject({ status: 502 });
    // Nor does an unknown error become a 503 for its socket code: it stays a 500.
    expect(toHttpError(refused)).toBeUndefined();
  });
});
