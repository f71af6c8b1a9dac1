/** A Redis node's address. */
export interface RedisNode {
  host: string;
  port: number;
}

/** Credentials and transport shared by every connection to one Redis deployment. */
interface RedisAccess {
  username?: string;
  password?: string;
  /** TLS (`rediss…` schemes). */
  tls: boolean;
}

/**
 * Where Redis is, from a URL (REDIS_URL, ORCHARD_CACHE_REDIS_URL):
 * - `redis://[user:password@]host:port[/db]` (`rediss://` for TLS): one server;
 * - `redis+sentinel://[user:password@]host:port[,host:port…]/<master name>[/db]`: the master a
 *   Sentinel set names, followed across failovers (the password is the master's; Sentinels without
 *   a password of their own, or `?sentinelPassword=…`);
 * - `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster (seed nodes; the rest
 *   are discovered). Queues then use a hash-tagged prefix (see {@link queuePrefixFor}).
 */
export type RedisTarget =
  | ({ mode: 'single'; url: string } & RedisAccess)
  | ({ mode: 'sentinel'; sentinels: RedisNode[]; masterName: string; db: number; sentinelPassword?: string } & RedisAccess)
  | ({ mode: 'cluster'; nodes: RedisNode[] } & RedisAccess);

const SCHEME = /^(rediss?)(\+sentinel|\+cluster)?:\/\/(.*)$/;

/** @throws Error naming what is wrong (never echoing the password) */
export function parseRedisUrl(url: string): RedisTarget {
  const scheme = SCHEME.exec(url);
  if (!scheme) throw new Error('must be a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL');
  const [, base, variant, rest] = scheme as unknown as [string, 'redis' | 'rediss', string | undefined, string];
  const tls = base === 'rediss';
  if (!variant) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error('is not a valid URL');
    }
    if (!parsed.hostname) throw new Error('has no host');
    return { mode: 'single', url, tls, ...credentials(parsed.username, parsed.password) };
  }
  const query = rest.indexOf('?');
  const withoutQuery = query < 0 ? rest : rest.slice(0, query);
  const params = new URLSearchParams(query < 0 ? '' : rest.slice(query + 1));
  const at = withoutQuery.lastIndexOf('@');
  const userinfo = at < 0 ? '' : withoutQuery.slice(0, at);
  const afterUser = withoutQuery.slice(at + 1);
  const slash = afterUser.indexOf('/');
  const hosts = slash < 0 ? afterUser : afterUser.slice(0, slash);
  const path =
    slash < 0
      ? []
      : afterUser
          .slice(slash + 1)
          .split('/')
          .filter(Boolean);
  const nodes = hosts.split(',').map(parseNode);
  const colon = userinfo.indexOf(':');
  const access = { tls, ...credentials(colon < 0 ? userinfo : userinfo.slice(0, colon), colon < 0 ? '' : userinfo.slice(colon + 1)) };
  if (variant === '+cluster') {
    if (path.length > 0) throw new Error('a Redis Cluster has only database 0: drop the path');
    return { mode: 'cluster', nodes, ...access };
  }
  const [masterName, db = '0', ...extra] = path;
  if (!masterName || extra.length > 0) throw new Error('must name the master: redis+sentinel://host:port,…/<master name>[/db]');
  if (!/^\d{1,2}$/.test(db)) throw new Error('has a database number that is not a small integer');
  const sentinelPassword = params.get('sentinelPassword') ?? undefined;
  return { mode: 'sentinel', sentinels: nodes, masterName: decodeURIComponent(masterName), db: Number(db), ...access, ...(sentinelPassword ? { sentinelPassword } : {}) };
}

function parseNode(text: string): RedisNode {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65_535) throw new Error(`has a node that is not host:port (${JSON.stringify(text.slice(0, 80))})`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

function credentials(username: string, password: string): { username?: string; password?: string } {
  return {
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
}

/** The BullMQ prefix for a deployment: hash-tagged on a Cluster, so each queue's keys share one slot (BullMQ's Lua scripts need that). */
export function queuePrefixFor(target: RedisTarget, prefix: string): string {
  return target.mode === 'cluster' ? `{${prefix}}` : prefix;
}

/** Where the target is, for logs: hosts and mode, never credentials. */
export function describeRedisTarget(target: RedisTarget): string {
  switch (target.mode) {
    case 'single': {
      const url = new URL(target.url);
      return `${url.protocol}//${url.host}${url.pathname}`;
    }
    case 'sentinel':
      return `sentinel ${target.sentinels.map(nodeText).join(',')} master ${target.masterName} db ${target.db}`;
    case 'cluster':
      return `cluster ${target.nodes.map(nodeText).join(',')}`;
  }
}

function nodeText(node: RedisNode): string {
  return node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
}
