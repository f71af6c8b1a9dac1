import type { UpstreamConfig } from '../config/index.js';
import { UpstreamClient, UpstreamError, asUpstreamError } from '../http/index.js';
import type { Metrics } from '../metrics/index.js';
import { MalformedPageError, PageLimitError, type PageLimits, type ProjectPage, type ProtocolAdapter } from '../protocol/index.js';
import { TimeSlices } from './time-slices.js';

/** Validators remembered from the owning upstream's last answer. */
export interface Validators {
  upstream: string;
  etag?: string;
  lastModified?: string;
}

export type UpstreamPageResult =
  { kind: 'page'; upstream: string; page: ProjectPage; etag?: string; lastModified?: string } | { kind: 'not-modified'; upstream: string } | { kind: 'missing' };

/** The settings that set each page limit, named in the error a client sees. */
const LIMIT_VARIABLES: Record<keyof PageLimits, string> = { maxBytes: 'ORCHARD_MAX_PAGE_BYTES', maxFiles: 'ORCHARD_MAX_PAGE_FILES' };

/** Bytes handed to the page parser at once: one slice of parsing work between two pauses. */
const PARSE_CHUNK_BYTES = 64 * 1024;

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
    private readonly limits: PageLimits,
  ) {}

  async fetch(project: string, upstreams: UpstreamConfig[], validators?: Validators, signal?: AbortSignal): Promise<UpstreamPageResult> {
    for (const upstream of upstreams) {
      const conditional = validators?.upstream === upstream.name ? validators : undefined;
      const result = await this.fetchFrom(upstream, project, conditional, signal);
      if (result.kind !== 'missing') return result;
    }
    return { kind: 'missing' };
  }

  private async fetchFrom(upstream: UpstreamConfig, project: string, validators: Validators | undefined, signal?: AbortSignal): Promise<UpstreamPageResult> {
    const url = this.protocol.projectPageUrl(upstream.url, project);
    const headers: Record<string, string> = { accept: this.protocol.projectPageAccept };
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
      const contentType = header(response.headers['content-type']) ?? '';
      const page = await this.parse(upstream.name, response.body, contentType, response.url);
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
      if (failure instanceof UpstreamError && failure.failure === 'invalid-response') outcome = 'invalid';
      throw failure;
    } finally {
      this.metrics.upstreamRequests.inc({ upstream: upstream.name, kind: 'page', outcome });
    }
  }

  /**
   * Parses a page as its body arrives, a bounded slice at a time with pauses in between (a page of
   * 100,000 files never stalls other requests), stopping at the first byte or file past the limits
   * (leaving the loop destroys the body). Errors of the body itself (connection lost, timeout) pass
   * through; a page Orchard cannot use is an `invalid-response` naming the upstream.
   */
  private async parse(upstream: string, body: AsyncIterable<unknown>, contentType: string, url: string): Promise<ProjectPage> {
    const parser = this.protocol.createProjectPageParser(contentType, url, this.limits);
    const slices = new TimeSlices();
    for await (const chunk of body) {
      const bytes = chunk as Buffer;
      for (let at = 0; at < bytes.length; at += PARSE_CHUNK_BYTES) {
        unusableIfThrows(upstream, () => parser.write(bytes.subarray(at, at + PARSE_CHUNK_BYTES)));
        await slices.pause();
      }
    }
    const steps = parser.end();
    for (;;) {
      const step = unusableIfThrows(upstream, () => steps.next());
      if (step.done) return step.value;
      await slices.pause();
    }
  }
}

/** Runs one parser step; whatever it throws becomes the 502 of an unusable page. */
function unusableIfThrows<T>(upstream: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw unusablePage(upstream, err);
  }
}

/** The error for a page Orchard cannot use: too large (naming the limit's setting) or malformed. */
function unusablePage(upstream: string, err: unknown): UpstreamError {
  if (err instanceof PageLimitError) {
    return new UpstreamError('invalid-response', `upstream ${upstream} answered an index page too large to use: ${err.message} (${LIMIT_VARIABLES[err.limit]})`, undefined, {
      cause: err,
    });
  }
  // A MalformedPageError says what is wrong in the protocol's own words (never page content).
  const what = err instanceof MalformedPageError ? err.message : 'unreadable index page';
  return new UpstreamError('invalid-response', `upstream ${upstream} answered a ${what}`, undefined, { cause: err });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
