import { Router, type Request, type Response } from 'express';
import type { ArtifactDependency, ReleaseArtifact, ReleaseRepository } from '../../../libs/db/index.js';
import type { Logger } from '../../../libs/log/index.js';
import { EnvironmentQueryError, type ProtocolAdapter } from '../../../libs/protocol/index.js';
import { badRequest, notFound, toHttpError } from '../http-errors.js';
import { cursorId, PAGINATION_PARAMS, pageFields, parsePageRequest, withoutPagination } from './api-pagination.js';
import { artifactView, dependentsView, releaseDependenciesView, unionSources } from './api-views.js';
import { setRoute } from '../request-context.js';

export interface ApiRoutesDeps {
  /** Where the routes live: `/api/v1` (the primary protocol) or `/api/v1/<protocol>`. */
  base: string;
  /** The protocol of the releases (names, versions, dependency conditions). */
  protocol: ProtocolAdapter;
  releases: ReleaseRepository;
  logger: Logger;
}

const SHA256 = /^[0-9a-fA-F]{64}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._!+-]{0,127}$/;

/**
 * The read-only JSON API over extracted metadata (README, "JSON API"):
 * - `GET /api/v1/artifacts/<sha256>`: one file's facts and declared requirements;
 * - `GET /api/v1/projects/<name>/versions/<version>/dependencies`: a release's requirements,
 *   optionally evaluated for `?python=&platform=&implementation=&machine=&extras=`;
 * - `GET /api/v1/projects/<name>/dependents`: which cached releases require a project.
 * Lists are paginated (`?limit=&cursor=`, see api-pagination.ts): each answer is bounded whatever
 * is stored. Names are accepted in any spelling and answered normalised. Errors are JSON
 * `{"error": {"code", "message"}}`: 400 for bad input, 404 for what is not cached.
 * Only these paths are handled here, so other routers may serve the rest of `/api/v1/`.
 */
export function apiRoutes(deps: ApiRoutesDeps): Router {
  const router = Router({ strict: true });

  router.get(
    `${deps.base}/artifacts/:sha256`,
    json(deps, 'api_artifact', async (req) => {
      const sha256 = String(req.params.sha256);
      if (!SHA256.test(sha256)) throw badRequest('invalid sha256: expected 64 hexadecimal digits');
      checkQuery(req.query, new Set());
      const page = parsePageRequest(req.query, 'artifact-dependencies', 1);
      const afterId = page.after && cursorId(page.after[0]!);
      const facts = await deps.releases.artifactFacts(sha256.toLowerCase(), { afterId, limit: page.limit });
      if (!facts) throw notFound(`no cached artifact has sha256 ${sha256.toLowerCase()}`);
      const last = facts.moreDependencies ? facts.dependencies.at(-1) : undefined;
      return { ...artifactView(facts, deps.protocol), ...pageFields(req, 'artifact-dependencies', last && [String(last.id)]) };
    }),
  );

  router.get(
    `${deps.base}/projects/:name/versions/:version/dependencies`,
    json(deps, 'api_release_dependencies', async (req) => {
      const project = projectParam(req, deps.protocol);
      const version = String(req.params.version);
      if (!VERSION.test(version)) throw badRequest('invalid version');
      const environment = parseEnvironment(req, deps.protocol);
      const page = parsePageRequest(req.query, 'release-dependencies', 3);
      const after = page.after && { filename: page.after[0]!, artifactSha256: page.after[1]!, id: cursorId(page.after[2]!) };
      const versions = (await deps.releases.versionsOf(project)).filter((v) => deps.protocol.sameVersion(v, version));
      const artifacts = versions.length === 0 ? [] : await deps.releases.releaseArtifacts(project, versions);
      if (artifacts.length === 0) throw notFound(`no extracted artifact of ${project} ${version} is cached`);
      const rows = await deps.releases.releaseDependencyPage(artifacts, after, page.limit);
      const declaredEarlier = await declaredEarlierCheck(deps.releases, artifacts, rows.items);
      const view = releaseDependenciesView(project, version, { artifacts, rows: rows.items, declaredEarlier }, environment);
      const last = rows.more ? rows.items.at(-1) : undefined;
      const filenameOf = (sha: string) => artifacts.find((a) => a.release.artifactSha256 === sha)!.filename;
      return { ...view, ...pageFields(req, 'release-dependencies', last && [filenameOf(last.artifactSha256), last.artifactSha256, String(last.id)]) };
    }),
  );

  router.get(
    `${deps.base}/projects/:name/dependents`,
    json(deps, 'api_dependents', async (req) => {
      const project = projectParam(req, deps.protocol);
      checkQuery(req.query, new Set());
      const page = parsePageRequest(req.query, 'dependents', 3);
      const after = page.after && { project: page.after[0]!, version: page.after[1]!, raw: page.after[2]! };
      const entries = await deps.releases.dependentsPage(project, after, page.limit);
      const last = entries.more ? entries.items.at(-1) : undefined;
      return { ...dependentsView(project, entries.items), ...pageFields(req, 'dependents', last && [last.project, last.version, last.raw]) };
    }),
  );

  return router;
}

function projectParam(req: Request, protocol: ProtocolAdapter): string {
  const raw = String(req.params.name);
  if (!protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
  return protocol.normalizeName(raw);
}

/** Refuses query parameters other than `accepted` and the pagination ones. */
function checkQuery(query: Record<string, unknown>, accepted: Set<string>): void {
  const unknown = Object.keys(query).find((key) => !accepted.has(key) && !PAGINATION_PARAMS.has(key));
  if (unknown !== undefined) throw badRequest(`unknown query parameter ${JSON.stringify(unknown)}; accepted: limit, cursor`);
}

/**
 * Whether a row's requirement was declared by a union source ordered before the row's artifact.
 * Sources after the page's first artifact and before a row's own are wholly on this page, which the
 * view checks itself; so only sources up to the first artifact are asked about, in one query.
 */
async function declaredEarlierCheck(releases: ReleaseRepository, artifacts: ReleaseArtifact[], rows: ArtifactDependency[]) {
  const position = new Map(artifacts.map((a, i) => [a.release.artifactSha256, i]));
  const first = rows[0];
  if (!first) return () => false;
  const firstPosition = position.get(first.artifactSha256)!;
  const sources = unionSources(artifacts).filter((a) => position.get(a.release.artifactSha256)! <= firstPosition);
  const declaring = await releases.declaringArtifacts(
    sources.map((a) => a.release.artifactSha256),
    [...new Set(rows.map((r) => r.raw))],
  );
  return (row: ArtifactDependency) => [...(declaring.get(row.raw) ?? [])].some((sha) => position.get(sha)! < position.get(row.artifactSha256)!);
}

function parseEnvironment(req: Request, protocol: ProtocolAdapter) {
  try {
    return protocol.dependencyEnvironment(withoutPagination(req.query as Record<string, unknown>));
  } catch (err) {
    if (err instanceof EnvironmentQueryError) throw badRequest(err.message);
    throw err;
  }
}

/**
 * Runs a handler and sends its result as JSON; errors become JSON too (known ones with their status,
 * anything else a logged 500 naming the request id), so API clients never get an HTML or text body.
 */
function json(deps: ApiRoutesDeps, route: string, handler: (req: Request) => Promise<unknown>) {
  return async (req: Request, res: Response): Promise<void> => {
    setRoute(res, route);
    res.set('Cache-Control', 'no-cache');
    try {
      res.status(200).json(await handler(req));
    } catch (err) {
      const requestId = String(res.getHeader('x-request-id') ?? '');
      let status = 500;
      let code = 'internal';
      let message = `internal error (request ${requestId})`;
      // The same mapping as the one error handler (a database outage is a 503), answered as JSON.
      const known = toHttpError(err);
      if (known) {
        ({ status, code, message } = known);
        res.set(known.headers);
      } else deps.logger.error({ err, requestId, path: req.path }, 'API request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.status(status).json({ error: { code, message } });
    }
  };
}
