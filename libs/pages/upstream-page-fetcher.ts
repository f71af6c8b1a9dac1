import type { UpstreamConfig } from '../config/index.js';
import { UpstreamClient, UpstreamError, asUpstreamError } from '../http/index.js';
import type { Metrics } from '../metrics/index.js';
import type { ProjectPage, ProtocolAdapter } from '../protocol/types.js';
import { BodyTooLargeError, readBounded } from './read-bounded.js';

/** Validators remembered from the owning upstream's last answer. */
export interface Validators {
  upstream: string;
  etag?: string;
  lastModified?: string;
}

export type UpstreamPageResult =
  | { kind: 'page'; upstream: string; page: ProjectPage; etag?: string; lastModified?: string }
  | { kind: 'not-modified'; upstream: string }
  | { kind: 'missing' };

/** Largest project page Orchard accepts from an upstream. */
export const MAX_PAGE_BYTES = 128 * 1024 * 1024;

/** JSON first, HTML as fallback: the upstream may speak either. */
const ACCEPT = 'application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1';

/**
 * Asks the upstreams, in priority order, for one project's page. The first upstream that has the
 * project owns it. An upstream that fails (rather than answering 404) stops the search: falling
 * through to a lower-priority upstream could serve a public package under a private name.
 */
export class UpstreamPageFetcher {
  constructor(
    private readonly http: UpstreamClient,
    private readonly protocol: ProtocolAdapter,
    private readonly metrics: Metrics,
  ) {}

  async fetch(project: string, upstreams: UpstreamConfig[], validators?: Validators, signal?: AbortSignal): Promise<UpstreamPageResult> {
    for (const upstream of upstreams) {
      const conditional = validators?.upstream === upstream.name ? validators : undefined;
      const result = await this.fetchFrom(upstream, project, conditional, signal);
      if (result.kind !== 'missing') return result;
    }
    return { kind: 'missing' };
  }

  private async fetchFrom(
    upstream: UpstreamConfig,
    project: string,
    validators: Validators | undefined,
    signal?: AbortSignal,
  ): Promise<UpstreamPageResult> {
    const url = new URL(`${encodeURIComponent(project)}/`, upstream.url).toString();
    const headers: Record<string, string> = { accept: ACCEPT };
    if (validators?.etag) headers['if-none-match'] = validators.etag;
    if (validators?.lastModified) headers['if-modified-since'] = validators.lastModified;
    const timer = this.metrics.upstreamDuration.startTimer({ upstream: upstream.name, kind: 'page' });
    let outcome = 'error';
    try {
      const response = await this.http.get(upstream, url, { headers, signal });
      timer();
      if (response.status === 404 || response.status === 410) {
        response.body.resume();
        outcome = 'not_found';
        return { kind: 'missing' };
      }
      // A 304 only means something when Orchard asked conditionally.
      if (response.status === 304 && validators) {
        response.body.resume();
        outcome = 'not_modified';
        return { kind: 'not-modified', upstream: upstream.name };
      }
      if (response.status !== 200) {
        response.body.resume();
        outcome = response.status >= 500 ? 'server_error' : 'client_error';
        throw new UpstreamError('status', `upstream ${upstream.name} answered ${response.status}`, response.status);
      }
      const body = await readBounded(response.body, MAX_PAGE_BYTES, `upstream ${upstream.name} page`).catch((err: unknown) => {
        if (err instanceof BodyTooLargeError) throw new UpstreamError('invalid-response', err.message, undefined, { cause: err });
        throw err;
      });
      const contentType = header(response.headers['content-type']) ?? '';
      let page: ProjectPage;
      try {
        page = this.protocol.parseProjectPage(body, contentType, response.url);
      } catch (err) {
        outcome = 'invalid';
        // The protocol's MalformedPageError says what is wrong in its own words (never page content).
        const what = err instanceof Error && err.name === 'MalformedPageError' ? err.message : 'unreadable index page';
        throw new UpstreamError('invalid-response', `upstream ${upstream.name} answered a ${what}`, undefined, { cause: err });
      }
      outcome = 'ok';
      return {
        kind: 'page',
        upstream: upstream.name,
        page,
        etag: header(response.headers.etag),
        lastModified: header(response.headers['last-modified']),
      };
    } catch (err) {
      const failure = asUpstreamError(err, upstream.name);
      if (failure instanceof UpstreamError && failure.failure === 'timeout') outcome = 'timeout';
      throw failure;
    } finally {
      this.metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'page', outcome });
    }
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
