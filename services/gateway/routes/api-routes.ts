import { eq, valid } from '@renovatebot/pep440';
import { Router, type Request, type Response } from 'express';
import type { ReleaseRepository } from '../../../libs/db/index.js';
import type { Logger } from '../../../libs/log/index.js';
import { isValidProjectName, normalizeName } from '../../../libs/protocol/pypi/index.js';
import { HttpError, badRequest, notFound } from '../http-errors.js';
import { environmentFor, parseEnvironmentQuery, QueryError } from './api-evaluate.js';
import { artifactView, byText, dependentsView, releaseDependenciesView } from './api-views.js';

export interface ApiRoutesDeps {
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
 * Names are accepted in any spelling and answered normalised. Errors are JSON
 * `{"error": {"code", "message"}}`: 400 for bad input, 404 for what is not cached.
 * Only these paths are handled here, so other routers may serve the rest of `/api/v1/`.
 */
export function apiRoutes(deps: ApiRoutesDeps): Router {
  const router = Router({ strict: true });

  router.get('/api/v1/artifacts/:sha256', json(deps, 'api_artifact', async (req) => {
    const sha256 = String(req.params.sha256);
    if (!SHA256.test(sha256)) throw badRequest('invalid sha256: expected 64 hexadecimal digits');
    const facts = await deps.releases.artifactFacts(sha256.toLowerCase());
    if (!facts) throw notFound(`no cached artifact has sha256 ${sha256.toLowerCase()}`);
    return artifactView(facts);
  }));

  router.get('/api/v1/projects/:name/versions/:version/dependencies', json(deps, 'api_release_dependencies', async (req) => {
    const project = projectParam(req);
    const version = String(req.params.version);
    if (!VERSION.test(version)) throw badRequest('invalid version');
    const request = parseQuery(req);
    const versions = (await deps.releases.versionsOf(project)).filter((v) => sameVersion(v, version));
    const releases = (await Promise.all(versions.map((v) => deps.releases.dependenciesOf(project, v)))).flat();
    if (releases.length === 0) throw notFound(`no extracted artifact of ${project} ${version} is cached`);
    releases.sort((a, b) => byText(a.filename, b.filename));
    return releaseDependenciesView(project, version, releases, request && environmentFor(request));
  }));

  router.get('/api/v1/projects/:name/dependents', json(deps, 'api_dependents', async (req) => {
    const project = projectParam(req);
    if (Object.keys(req.query).length > 0) throw badRequest('this endpoint takes no query parameters');
    return dependentsView(project, await deps.releases.dependentsOf(project));
  }));

  return router;
}

function projectParam(req: Request): string {
  const raw = String(req.params.name);
  if (!isValidProjectName(raw)) throw badRequest('invalid project name');
  return normalizeName(raw);
}

function parseQuery(req: Request) {
  try {
    return parseEnvironmentQuery(req.query as Record<string, unknown>);
  } catch (err) {
    if (err instanceof QueryError) throw badRequest(err.message);
    throw err;
  }
}

/** Equal as PEP 440 versions (`1.0` = `1.0.0`), or as text when either is not a valid version. */
function sameVersion(stored: string, asked: string): boolean {
  if (stored === asked) return true;
  return valid(stored) !== null && valid(asked) !== null && eq(stored, asked);
}

/**
 * Runs a handler and sends its result as JSON; errors become JSON too (known ones with their status,
 * anything else a logged 500 naming the request id), so API clients never get an HTML or text body.
 */
function json(deps: ApiRoutesDeps, route: string, handler: (req: Request) => Promise<unknown>) {
  return async (req: Request, res: Response): Promise<void> => {
    res.locals.route = route;
    res.set('Cache-Control', 'no-cache');
    try {
      res.status(200).json(await handler(req));
    } catch (err) {
      const requestId = String(res.getHeader('x-request-id') ?? '');
      let status = 500;
      let code = 'internal';
      let message = `internal error (request ${requestId})`;
      if (err instanceof HttpError) ({ status, code, message } = err);
      else deps.logger.error({ err, requestId, path: req.path }, 'API request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.status(status).json({ error: { code, message } });
    }
  };
}
