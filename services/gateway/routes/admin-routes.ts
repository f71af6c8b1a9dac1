import { createHash, timingSafeEqual } from 'node:crypto';
import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import type { ArtifactCache } from '../../../libs/cache/index.js';
import type { Logger } from '../../../libs/log/index.js';
import type { ProjectPages } from '../../../libs/pages/index.js';
import type { ProtocolAdapter } from '../../../libs/protocol/types.js';
import type { UpstreamRegistry } from '../../../libs/upstreams/index.js';
import { HttpError, badRequest, notFound } from '../http-errors.js';
import { setRoute } from '../request-context.js';
import { adminCall, jsonBody } from './admin-requests.js';
import { mountAdminStorage, type AdminStorageDeps } from './admin-storage.js';
import { mountAdminViews, type AdminViewsDeps } from './admin-views.js';

export interface AdminRoutesDeps {
  /** ORCHARD_ADMIN_TOKEN; without it every admin path is a 404, like any unknown path. */
  token: string | undefined;
  registry: UpstreamRegistry;
  pages: ProjectPages;
  protocol: ProtocolAdapter;
  artifacts: ArtifactCache;
  /**
   * Forgets what gateway processes remember of the invalidated pages (one project, or every page):
   * this one at once, every other process and replica through the invalidation channel.
   */
  forgetPages?: (project?: string) => Promise<void>;
  storage: AdminStorageDeps['storage'];
  storageQuota: AdminStorageDeps['storageQuota'];
  /** Policy views; absent, `views` is not a route. */
  views?: AdminViewsDeps['views'];
  logger: Logger;
}

const PREFIX = '/api/v1/admin';

const auth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('basic'), username: z.string().min(1).max(256), password: z.string().min(1).max(1024) }).strict(),
  z.object({ type: z.literal('bearer'), token: z.string().min(1).max(4096) }).strict(),
]);
const fields = {
  url: z.string().min(1).max(2048),
  priority: z.number().int().min(0).max(1_000_000),
  enabled: z.boolean(),
  auth,
};
const createBody = z
  .object({ name: z.string().min(1).max(63), ...fields, priority: fields.priority.optional(), enabled: fields.enabled.optional(), auth: auth.optional() })
  .strict();
const patchBody = z.object(fields).partial().strict();

/**
 * The admin API under `/api/v1/admin` (bearer ORCHARD_ADMIN_TOKEN): upstreams (list, add, change,
 * remove; secrets are accepted, never returned) and the page cache (invalidate one project or all,
 * show one project's state), storage usage and pins (`admin-storage.ts`), policy views (`admin-views.ts`). Off — a plain 404 — when
 * no token is configured.
 */
export function adminRoutes(deps: AdminRoutesDeps): Router {
  const router = Router({ strict: true });
  router.use(PREFIX, authenticate(deps.token), express.json({ limit: '256kb' }));

  router.get(`${PREFIX}/upstreams`, async (_req, res) => {
    res.json({ upstreams: await deps.registry.describe() });
  });

  router.get(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const found = (await deps.registry.describe()).filter((u) => u.name === req.params.name);
    if (found.length === 0) throw notFound(`no upstream named ${String(req.params.name)}`);
    // An environment upstream shadows a stored one of the same name: the active one comes first.
    found.sort((a, b) => Number(b.active) - Number(a.active));
    res.json({ upstream: found[0] });
  });

  router.post(`${PREFIX}/upstreams`, async (req, res) => {
    const body = parse(createBody, req);
    const upstream = await adminCall(() => deps.registry.add(body));
    res.status(201).location(`${PREFIX}/upstreams/${upstream.name}`).json({ upstream });
  });

  router.patch(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const body = parse(patchBody, req);
    const upstream = await adminCall(() => deps.registry.change(String(req.params.name), body));
    if (!upstream) throw notFound(`no stored upstream named ${String(req.params.name)}`);
    res.json({ upstream });
  });

  router.delete(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const removed = await adminCall(() => deps.registry.remove(String(req.params.name)));
    if (!removed) throw notFound(`no stored upstream named ${String(req.params.name)}`);
    res.status(204).end();
  });

  router.get(`${PREFIX}/cache/projects/:project`, async (req, res) => {
    const project = projectName(deps.protocol, req);
    const { fileIds, files, ...state } = await deps.pages.state(project);
    const cached = await deps.artifacts.countCached(deps.protocol.name, fileIds);
    res.json({ ...state, files: { listed: files, cached } });
  });

  router.delete(`${PREFIX}/cache/pages/:project`, async (req, res) => {
    const project = projectName(deps.protocol, req);
    const dropped = await deps.pages.invalidate(project);
    await deps.forgetPages?.(project);
    deps.logger.info({ project, dropped }, 'page invalidated');
    res.json({ project, dropped });
  });

  router.delete(`${PREFIX}/cache/pages`, async (_req, res) => {
    const dropped = await deps.pages.invalidateAll();
    await deps.forgetPages?.();
    deps.logger.info({ dropped }, 'every page invalidated');
    res.json({ dropped });
  });

  mountAdminStorage(router, PREFIX, deps);
  if (deps.views) mountAdminViews(router, PREFIX, { views: deps.views });

  router.use(PREFIX, (_req, _res, next) => next(notFound('not found')));
  return router;
}

/**
 * Bearer authentication with a constant-time comparison: both sides are hashed first, so the
 * comparison takes the same time whatever the length or content of the token offered.
 */
function authenticate(token: string | undefined): RequestHandler {
  const expected = token ? digest(token) : undefined;
  return (req, res, next) => {
    setRoute(res, 'admin');
    if (!expected) return next(notFound('not found'));
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      return next(new HttpError(401, 'unauthorized', 'admin token missing or wrong', { 'WWW-Authenticate': 'Bearer realm="orchard-admin"' }));
    }
    next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function parse<T>(schema: z.ZodType<T>, req: Request): T {
  const result = schema.safeParse(jsonBody(req));
  if (!result.success) {
    // Issue paths and messages name fields and types, never the values sent (they may be secrets).
    const issue = result.error.issues[0]!;
    throw badRequest(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return result.data;
}

function projectName(protocol: ProtocolAdapter, req: Request): string {
  const raw = String(req.params.project);
  if (!protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
  return protocol.normalizeName(raw);
}
