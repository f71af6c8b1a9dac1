/**
 * One short, non-empty line saying why something failed, for a log field or a status body.
 *
 * Messages are not always usable as they are: Prisma's start with a blank line and put the reason
 * last ("Invalid `prisma.$queryRaw()` invocation: … Message: `Can't reach database server at …`"),
 * and Node's AggregateError (a host name resolving to several addresses) has an empty message with
 * the reasons in `errors` and the error code in `code`. Falls back to causes, then the code, then
 * the error's name, so the answer is never empty.
 */
export function errorReason(err: unknown, maxLength = 200): string {
  return (reasonOf(err, 0) ?? 'unknown error').slice(0, maxLength);
}

function reasonOf(err: unknown, depth: number): string | undefined {
  if (err === null || err === undefined || depth > 4) return undefined;
  if (typeof err !== 'object') return String(err).trim().split('\n')[0] || undefined;
  const e = err as { message?: unknown; code?: unknown; name?: unknown; cause?: unknown; errors?: unknown };
  const fromMessage = typeof e.message === 'string' ? meaningfulLine(e.message) : undefined;
  if (fromMessage) return fromMessage;
  const nested = Array.isArray(e.errors) ? e.errors[0] : undefined;
  const fromNested = reasonOf(nested, depth + 1) ?? reasonOf(e.cause, depth + 1);
  if (fromNested) return fromNested;
  if (typeof e.code === 'string' && e.code) return e.code;
  return typeof e.name === 'string' && e.name ? e.name : undefined;
}

/** The line that says what went wrong: Prisma's embedded driver message, or the first non-blank line. */
function meaningfulLine(message: string): string | undefined {
  const embedded = /Message: `([^`]+)`/.exec(message)?.[1]?.trim();
  if (embedded) return embedded;
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (lines.length === 0) return undefined;
  // Prisma client errors open with "Invalid `…` invocation" and a code frame; the reason is last.
  return /^Invalid `.*` invocation/.test(lines[0]!) ? lines[lines.length - 1] : lines[0];
}
