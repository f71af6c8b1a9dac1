import { parseUpstreamUrl, type UpstreamAuth, type UpstreamConfig } from '../config/index.js';
import type { UpstreamAuthType, UpstreamSource } from '../db/index.js';
import { UpstreamInputError } from './errors.js';

/** Upstream names: as in ORCHARD_UPSTREAMS (they label metrics and appear in headers). */
export const UPSTREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** An upstream as the admin API adds it. */
export interface UpstreamInput {
  name: string;
  url: string;
  /** Lower comes first; default 100 (after the environment's upstreams, which take 10, 20, …). */
  priority?: number;
  enabled?: boolean;
  auth?: UpstreamAuth;
}

/** Fields the admin API may change; the name is the upstream's identity. */
export type UpstreamPatch = Partial<Omit<UpstreamInput, 'name'>>;

/**
 * The UpstreamConfig of a stored upstream of `protocol`, or null when it cannot be used (another
 * protocol, bad URL or credentials written by hand): such a row is skipped, never half-applied.
 */
export function fromStored(row: UpstreamSource, protocol: string): UpstreamConfig | null {
  if (row.protocol !== protocol || !UPSTREAM_NAME.test(row.name)) return null;
  let url: string;
  try {
    url = parseUpstreamUrl(row.url, row.name).url;
  } catch {
    return null;
  }
  const auth = authFromStored(row.authType, row.authSecret);
  if (!auth) return null;
  return { name: row.name, protocol, url, priority: row.priority, auth, credentialOrigins: [] };
}

function authFromStored(type: string, secret: string | null): UpstreamAuth | null {
  if (type === 'none') return { type: 'none' };
  if (!secret) return null;
  if (type === 'bearer') return { type: 'bearer', token: secret };
  if (type === 'basic') {
    const colon = secret.indexOf(':');
    if (colon < 0) return null;
    return { type: 'basic', username: secret.slice(0, colon), password: secret.slice(colon + 1) };
  }
  return null;
}

/** The columns an UpstreamAuth is stored in. */
export function authToStored(auth: UpstreamAuth): { authType: UpstreamAuthType; authSecret: string | null } {
  switch (auth.type) {
    case 'none':
      return { authType: 'none', authSecret: null };
    case 'bearer':
      return { authType: 'bearer', authSecret: auth.token };
    case 'basic':
      if (auth.username.includes(':')) throw new UpstreamInputError('auth.username must not contain ":"');
      return { authType: 'basic', authSecret: `${auth.username}:${auth.password}` };
  }
}

/**
 * Checks an index URL given to the admin API: http or https, normalised to end in `/`. Credentials
 * belong in `auth`, never in the URL (URLs are shown back and logged), and a query string would be
 * dropped from every project URL anyway.
 */
export function checkedUrl(raw: string, name: string): string {
  let parsed: ReturnType<typeof parseUpstreamUrl>;
  try {
    parsed = parseUpstreamUrl(raw, name);
  } catch (err) {
    throw new UpstreamInputError((err as Error).message);
  }
  if (parsed.username || parsed.password) throw new UpstreamInputError('url must not carry credentials; give them in auth');
  if (new URL(parsed.url).search) throw new UpstreamInputError('url must not carry a query string');
  return parsed.url;
}
