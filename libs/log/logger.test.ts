import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, safeUrl, withLogContext } from './index.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON object per line with service, level, ISO time and message', () => {
    const out = capture();
    createLogger('gateway', 'info', out.stream).info({ port: 8080 }, 'listening');
    const [line] = out.lines();
    expect(line).toMatchObject({ service: 'gateway', level: 30, port: 8080, msg: 'listening' });
    expect(new Date(String(line!.time)).toISOString()).toBe(line!.time);
  });

  it('redacts credentials wherever they appear in the logged object', () => {
    const out = capture();
    const logger = createLogger('fetcher', 'info', out.stream);
    logger.info(
      {
        authorization: 'Bearer top-secret-1',
        headers: { authorization: 'Basic dG9wOnNlY3JldA==', cookie: 'session=top-secret-2' },
        req: { headers: { authorization: 'Bearer top-secret-3', 'proxy-authorization': 'Basic top-secret-4' } },
        upstream: { auth: { type: 'basic', password: 'top-secret-5' }, token: 'top-secret-6' },
        password: 'top-secret-7',
        storage: { secretAccessKey: 'top-secret-8' },
        settings: { databaseUrl: 'postgresql://u:top-secret-9@db/x', redisUrl: 'redis://:top-secret-10@r:6379', adminToken: 'top-secret-11' },
      },
      'with secrets',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toMatch(/top-secret|dG9wOnNlY3JldA/);
    expect(out.lines()[0]).toMatchObject({ authorization: '[redacted]', password: '[redacted]', headers: { authorization: '[redacted]' } });
  });

  it("adds the request id of the surrounding request context to every line, the line's own fields winning", async () => {
    const out = capture();
    const logger = createLogger('gateway', 'info', out.stream);
    logger.info('outside');
    await withLogContext({ requestId: 'req-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.warn('deep inside, after an await');
      logger.info({ requestId: 'explicit' }, 'explicit id');
    });
    const [outside, inside, explicit] = out.lines();
    expect(outside).not.toHaveProperty('requestId');
    expect(inside).toMatchObject({ requestId: 'req-1', msg: 'deep inside, after an await' });
    expect(explicit).toMatchObject({ requestId: 'explicit' });
    expect(JSON.stringify(explicit).match(/requestId/g)).toHaveLength(1);
  });
});

describe('safeUrl', () => {
  it('drops userinfo and the query string', () => {
    expect(safeUrl('https://user:pass@files.example/p/a.whl?X-Amz-Signature=abc#sha256=1')).toBe('https://files.example/p/a.whl#sha256=1');
    expect(safeUrl('not a url')).toBe('[invalid url]');
  });
});
