/** Authentication Orchard presents to one upstream (and only to that upstream's origin). */
export type UpstreamAuth = { type: 'none' } | { type: 'basic'; username: string; password: string } | { type: 'bearer'; token: string };

/** One configured upstream index. */
export interface UpstreamConfig {
  name: string;
  /** The protocol the upstream speaks (a registered protocol's name). */
  protocol: string;
  /** Index root URL ending in `/`, without credentials. */
  url: string;
  /** Lower numbers win: the first upstream (by priority) that has a project owns it. */
  priority: number;
  auth: UpstreamAuth;
  /** Extra origins (scheme://host:port) that may receive this upstream's credentials on redirect. */
  credentialOrigins: string[];
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Parses a list of `protocol` upstreams (`ORCHARD_UPSTREAMS`): space-separated `name=url` in priority order. Basic credentials may be
 * given in the URL (`https://user:pass@host/simple/`); they are moved out of the URL. A bearer token
 * comes from `ORCHARD_UPSTREAM_<NAME>_TOKEN`.
 */
export function parseUpstreams(value: string, env: NodeJS.ProcessEnv, protocol: string): UpstreamConfig[] {
  const entries = value.trim().split(/\s+/).filter(Boolean);
  if (entries.length === 0) throw new Error('needs at least one upstream as name=url');
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`"${redactEntry(entry)}" is not name=url`);
    const name = entry.slice(0, eq).toLowerCase();
    if (!NAME.test(name)) throw new Error(`upstream name "${name}" must match ${NAME.source}`);
    if (seen.has(name)) throw new Error(`upstream "${name}" is listed twice`);
    seen.add(name);
    const parsed = parseUpstreamUrl(entry.slice(eq + 1), name);
    const token = env[`ORCHARD_UPSTREAM_${name.toUpperCase().replace(/-/g, '_')}_TOKEN`];
    const auth: UpstreamAuth = token ? { type: 'bearer', token } : parsed.username ? { type: 'basic', username: parsed.username, password: parsed.password } : { type: 'none' };
    const origins = env[`ORCHARD_UPSTREAM_${name.toUpperCase().replace(/-/g, '_')}_CREDENTIAL_ORIGINS`];
    return {
      name,
      protocol,
      url: parsed.url,
      priority: (index + 1) * 10,
      auth,
      credentialOrigins: origins
        ? origins
            .split(/[\s,]+/)
            .filter(Boolean)
            .map((o) => new URL(o).origin)
        : [],
    };
  });
}

/**
 * Checks and normalises an upstream index URL (http or https, trailing `/`, no fragment) and
 * moves userinfo out of it. Errors name the upstream, never the URL (it may carry credentials).
 */
export function parseUpstreamUrl(raw: string, name: string): { url: string; username: string; password: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`upstream "${name}" has an invalid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`upstream "${name}" must use http or https`);
  }
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { url: url.toString(), username, password };
}

/** Never echo credentials back in an error message. */
function redactEntry(entry: string): string {
  return entry.replace(/\/\/[^@/]*@/, '//***@');
}
