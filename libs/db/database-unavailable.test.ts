import { afterAll, describe, expect, it } from 'vitest';
import { createPrismaClient, type PrismaClient } from './client.js';
import { DatabaseUnavailableError, isDatabaseClientError, isDatabaseUnavailable } from './database-unavailable.js';

const clients: PrismaClient[] = [];
afterAll(async () => {
  for (const client of clients) await client.$disconnect();
});

async function failureOf(databaseUrl: string, query: (p: PrismaClient) => Promise<unknown>): Promise<unknown> {
  const prisma = createPrismaClient({ databaseUrl, poolSize: 1, connectionTimeoutMs: 1_000 });
  clients.push(prisma);
  return query(prisma).then(
    () => expect.fail('the query succeeded'),
    (err: unknown) => err,
  );
}

describe('isDatabaseUnavailable', () => {
  it('recognises what Prisma throws when nothing listens, the database or a table is missing', async () => {
    const refused = await failureOf('postgresql://postgres@127.0.0.1:1/none', (p) => p.$queryRaw`SELECT 1`);
    const noDatabase = await failureOf('postgresql://postgres@127.0.0.1:5432/orchard_never_created', (p) => p.artifact.findMany());
    // The maintenance database exists but has no Orchard tables: what a service sees before migrating.
    const noTable = await failureOf('postgresql://postgres@127.0.0.1:5432/postgres', (p) => p.artifact.findMany());
    for (const err of [refused, noDatabase, noTable]) {
      expect(isDatabaseClientError(err)).toBe(true);
      expect(isDatabaseUnavailable(err)).toBe(true);
    }
  });

  it('does not take a bad query for an outage', async () => {
    const err = await failureOf('postgresql://postgres@127.0.0.1:5432/postgres', (p) => p.$queryRawUnsafe('SELECT * FROM'));
    expect(isDatabaseClientError(err)).toBe(true);
    expect(isDatabaseUnavailable(err)).toBe(false);
  });

  it('looks through causes and AggregateError members, and knows its own error', () => {
    const refused = Object.assign(new Error(''), { code: 'ECONNREFUSED' });
    expect(isDatabaseUnavailable(new AggregateError([refused], ''))).toBe(true);
    expect(isDatabaseUnavailable(new Error('migration failed', { cause: new Error('Connection terminated unexpectedly') }))).toBe(true);
    expect(isDatabaseUnavailable(new DatabaseUnavailableError('migrations pending'))).toBe(true);
    expect(isDatabaseClientError(new DatabaseUnavailableError('migrations pending'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('unique constraint failed'))).toBe(false);
    // PrismaClientInitializationError carries its P1xxx code as `errorCode`.
    expect(isDatabaseUnavailable(Object.assign(new Error('init failed'), { errorCode: 'P1001' }))).toBe(true);
  });

  it('says a socket error from elsewhere (an upstream) is not a database client error', () => {
    const upstream = new Error('upstream local refused the connection', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(isDatabaseClientError(upstream)).toBe(false);
  });
});
