import type { Readable } from 'node:stream';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import type { UpstreamConfig } from '../config/index.js';
import { AddressPolicy, type DeniedScope } from './address-policy.js';
import { UpstreamError, asUpstreamError } from './errors.js';

export interface UpstreamHttpSettings {
  connections: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  keepAliveMs: number;
  maxRedirects: number;
  /**
   * Refuse private, loopback and link-local addresses for the upstream's own origin too (default
   * false). Every other origin (file hosts, redirect targets) is refused such addresses regardless.
   */
  denyPrivateNetworks?: boolean;
  /** Hosts (names, IP addresses or CIDR ranges) exempt from the private-address refusal. */
  allowedHosts?: string[];
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** The URL that answered, after redirects. */
  url: string;
}

export interface UpstreamRequestOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  method?: 'GET' | 'HEAD';
}

/**
 * The upstream client manager: one undici Agent per upstream (a keep-alive Pool per origin inside
 * it, with a connection limit and timeouts), redirects followed by hand so credentials are sent only
 * to the upstream's own origin (or origins it was configured to trust), never to a file host.
 * Every connection passes the address policy (see {@link AddressPolicy}) at connect time.
 */
export class UpstreamClient {
  private readonly agents = new Map<string, Agent>();
  private readonly policy: AddressPolicy;

  constructor(private readonly settings: UpstreamHttpSettings) {
    this.policy = new AddressPolicy({ denyPrivateNetworks: settings.denyPrivateNetworks ?? false, allowedHosts: settings.allowedHosts ?? [] });
  }

  /** GET (or HEAD) a URL on behalf of an upstream. Resolves for every final status; throws UpstreamError for network failures. */
  async get(upstream: UpstreamConfig, url: string, options: UpstreamRequestOptions = {}): Promise<UpstreamResponse> {
    const dispatcher = this.agentFor(upstream);
    let current = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'orchard', ...options.headers };
      const authorization = this.authorizationFor(upstream, current);
      if (authorization) headers.authorization = authorization;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(current, {
          method: options.method ?? 'GET',
          headers,
          dispatcher,
          signal: options.signal,
          headersTimeout: this.settings.readTimeoutMs,
          bodyTimeout: this.settings.readTimeoutMs,
        });
      } catch (err) {
        throw asUpstreamError(err, upstream.name);
      }
      if (![301, 302, 303, 307, 308].includes(response.statusCode)) {
        return { status: response.statusCode, headers: response.headers, body: response.body, url: current };
      }
      response.body.resume();
      if (hop >= this.settings.maxRedirects) {
        throw new UpstreamError('too-many-redirects', `upstream ${upstream.name}: more than ${this.settings.maxRedirects} redirects`);
      }
      const location = response.headers.location;
      const next = typeof location === 'string' ? safeResolve(location, current) : undefined;
      if (!next) throw new UpstreamError('invalid-redirect', `upstream ${upstream.name}: redirect without a valid location`);
      current = next;
    }
  }

  /** The Authorization header for `url`, or undefined when the URL's origin may not see credentials. */
  private authorizationFor(upstream: UpstreamConfig, url: string): string | undefined {
    if (upstream.auth.type === 'none') return undefined;
    const origin = new URL(url).origin;
    if (origin !== new URL(upstream.url).origin && !upstream.credentialOrigins.includes(origin)) return undefined;
    if (upstream.auth.type === 'bearer') return `Bearer ${upstream.auth.token}`;
    return `Basic ${Buffer.from(`${upstream.auth.username}:${upstream.auth.password}`).toString('base64')}`;
  }

  /**
   * One Agent per upstream and origin of its URL (an upstream whose URL changes gets a new one, so
   * its connections' address policy always matches the origin it exempts).
   */
  private agentFor(upstream: UpstreamConfig): Agent {
    const own = new URL(upstream.url);
    const key = `${upstream.name} ${own.origin}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent({
        connections: this.settings.connections,
        keepAliveTimeout: this.settings.keepAliveMs,
        keepAliveMaxTimeout: this.settings.keepAliveMs,
        connect: this.connectorFor(own),
        headersTimeout: this.settings.readTimeoutMs,
        bodyTimeout: this.settings.readTimeoutMs,
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /**
   * Connects through the address policy: undici calls this once per new connection, with the origin
   * of its pool, so the decision is made on the address actually connected to (IP literals here,
   * names in the lookup, which Node calls for names only).
   */
  private connectorFor(own: URL): buildConnector.connector {
    const timeout = this.settings.connectTimeoutMs;
    const unchecked = buildConnector({ timeout });
    const checked = (scope: DeniedScope) => ({ scope, connect: buildConnector({ timeout, lookup: this.policy.lookupFor(scope) }) });
    const upstreamOrigin = checked('upstream-origin');
    const otherOrigin = checked('other-origin');
    return (options, callback) => {
      const isOwn = options.protocol === own.protocol && options.hostname.toLowerCase() === own.hostname.replace(/^\[|\]$/g, '') && options.port === own.port;
      if (isOwn && !this.policy.checksUpstreamOrigin) return unchecked(options, callback);
      const { scope, connect } = isOwn ? upstreamOrigin : otherOrigin;
      try {
        this.policy.checkLiteral(options.hostname, scope);
      } catch (denied) {
        return callback(denied as Error, null);
      }
      connect(options, callback);
    };
  }

  /** Pool sizes for /ready. */
  describe(): { upstreams: number; connectionsPerOrigin: number } {
    return { upstreams: this.agents.size, connectionsPerOrigin: this.settings.connections };
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    // Every pool is closed even if one fails; the failures are then reported to the caller (shutdown logs them).
    const results = await Promise.allSettled(agents.map((a) => a.close()));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} upstream connection pool(s) not closed cleanly`);
  }
}

function safeResolve(location: string, base: string): string | undefined {
  try {
    const url = new URL(location, base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}
