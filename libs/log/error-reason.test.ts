import { describe, expect, it } from 'vitest';
import { errorReason } from './error-reason.js';

describe('errorReason', () => {
  it('takes the driver message out of a Prisma error that opens with a blank line', () => {
    const err = new Error("\nInvalid `prisma.$queryRaw()` invocation:\n\n\nRaw query failed. Code: `N/A`. Message: `Can't reach database server at 127.0.0.1:5432`");
    expect(errorReason(err)).toBe("Can't reach database server at 127.0.0.1:5432");
  });

  it('takes the last line of a Prisma model error', () => {
    const err = new Error('\nInvalid `prisma.artifact.findMany()` invocation in\n/app/x.ts:1:2\n\n  1 code\n\nThe table `public.artifact` does not exist in the current database.');
    expect(errorReason(err)).toBe('The table `public.artifact` does not exist in the current database.');
  });

  it('is never empty: an AggregateError gives its first member, then the code, then the name', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' });
    expect(errorReason(Object.assign(new AggregateError([refused], ''), { code: 'ECONNREFUSED' }))).toBe('connect ECONNREFUSED ::1:5432');
    expect(errorReason(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorReason(new Error('', { cause: new Error('socket hang up') }))).toBe('socket hang up');
    expect(errorReason(new TypeError(''))).toBe('TypeError');
    expect(errorReason(undefined)).toBe('unknown error');
  });

  it('keeps the first line of ordinary messages, bounded', () => {
    expect(errorReason(new Error('Connection is closed.\n    at stack'))).toBe('Connection is closed.');
    expect(errorReason(new Error('x'.repeat(500)), 50)).toHaveLength(50);
  });
});
