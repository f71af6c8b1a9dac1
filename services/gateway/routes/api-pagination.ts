/**
 * Pagination of the JSON API's lists (README, "JSON API"): `?limit=` (1..{@link MAX_LIMIT}, default
 * {@link DEFAULT_LIMIT}) and `?cursor=`, an opaque token taken from a previous answer's `nextCursor`
 * (or its `next` link). Cursors are base64url JSON naming the list they belong to and the key of the
 * last item given; the lists are read by keyset from there.
 */
import type { Request } from 'express';
import { badRequest } from '../http-errors.js';

/**
 * Items per page when `limit` is absent. Above the most requirements any real distribution declares
 * (457, bench/metadata-sizes.ts), so a real artifact's list is whole in one answer.
 */
export const DEFAULT_LIMIT = 1000;
/** Largest `limit` accepted. */
export const MAX_LIMIT = 1000;
/** Longest cursor accepted: a key holds at most a 2000-byte requirement and a file name. */
const MAX_CURSOR_LENGTH = 8192;

/** The lists that have cursors; a cursor of one list is refused by another. */
export type CursorKind = 'artifact-dependencies' | 'release-dependencies' | 'dependents';

/** The pagination parameters of a request. */
export interface PageRequest {
  limit: number;
  /** The decoded key of the cursor, or undefined for the first page. */
  after: string[] | undefined;
}

/** The pagination query parameters, which every paginated route accepts besides its own. */
export const PAGINATION_PARAMS = new Set(['limit', 'cursor']);

/**
 * Reads `limit` and `cursor` from the query.
 * @param fields how many key fields a cursor of `kind` has
 * @throws HttpError 400 naming the bad parameter
 */
export function parsePageRequest(query: Record<string, unknown>, kind: CursorKind, fields: number): PageRequest {
  return { limit: parseLimit(query.limit), after: query.cursor === undefined ? undefined : decodeCursor(query.cursor, kind, fields) };
}

function parseLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (typeof value !== 'string' || !/^[0-9]{1,7}$/.test(value)) throw badRequest(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  const limit = Number(value);
  if (limit < 1 || limit > MAX_LIMIT) throw badRequest(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

function decodeCursor(value: unknown, kind: CursorKind, fields: number): string[] {
  if (typeof value !== 'string') throw badRequest('cursor must be given once');
  if (value.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(value)) throw badRequest('invalid cursor');
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw badRequest('invalid cursor');
    throw err;
  }
  if (!Array.isArray(decoded) || !decoded.every((f) => typeof f === 'string')) throw badRequest('invalid cursor');
  if (decoded[0] !== kind) throw badRequest('this cursor belongs to another list');
  if (decoded.length !== fields + 1) throw badRequest('invalid cursor');
  return decoded.slice(1) as string[];
}

/** The opaque cursor continuing after `key`. */
export function encodeCursor(kind: CursorKind, key: string[]): string {
  return Buffer.from(JSON.stringify([kind, ...key]), 'utf8').toString('base64url');
}

/** Parses a cursor's decimal id field. */
export function cursorId(field: string): bigint {
  if (!/^[0-9]{1,19}$/.test(field)) throw badRequest('invalid cursor');
  return BigInt(field);
}

/**
 * The pagination fields of an answer: `nextCursor` and `next`, the same request's path and query
 * with that cursor (relative to the host), both null on the last page.
 */
export function pageFields(req: Request, kind: CursorKind, lastKey: string[] | undefined): { nextCursor: string | null; next: string | null } {
  if (!lastKey) return { nextCursor: null, next: null };
  const nextCursor = encodeCursor(kind, lastKey);
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(req.query)) {
    if (key !== 'cursor' && typeof value === 'string') params.set(key, value);
  }
  params.set('cursor', nextCursor);
  return { nextCursor, next: `${req.baseUrl}${req.path}?${params.toString()}` };
}

/** The query without the pagination parameters, for routes that validate their own. */
export function withoutPagination(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([key]) => !PAGINATION_PARAMS.has(key)));
}
