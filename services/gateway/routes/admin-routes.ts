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

/** One protocol as the admin API manages it. */
export interface AdminProtocol {
  protocol: ProtocolAdapter;
  registry: UpstreamRegistry;
  pages: ProjectPages;
  /**
   * Forgets what gateway processes remember of the invalidated pages (one project, or every page):
   * this one at once, every other process and replica through the invalidation channel.
   */
  forgetPages?: (project?: string) => Promise<void>;
}

export interface AdminRoutesDeps {
  /** ORCHARD_ADMIN_TOKEN; without it every admin path is a 404, like any unknown path. */
  token: string | undefined;
  /** Every protocol served, the primary first: upstreams and page caches are per protocol. */
  protocols: AdminProtocol[];
  /** The primary protocol (storage pins are in its names). */
  protocol: ProtocolAdapter;
  artifacts: ArtifactCache;
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
  .object({
    name: z.string().min(1).max(63),
    /** The protocol the upstream speaks; default the primary one. */
    protocol: z.string().min(1).max(40).optional(),
    ...fields,
    priority: fields.priority.optional(),
    enabled: fields.enabled.optional(),
    auth: auth.optional(),
  })
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

  /** Every protocol's upstreams (each registry lists its own protocol's). */
  const describeAll = async () => (await Promise.all(deps.protocols.map(async (p) => (await p.registry.describe()).filter((u) => u.protocol === p.protocol.name)))).flat();
  /** The protocol a request names (`protocol` in a body, `?protocol=` on a cache route); default the primary one. */
  const protocolNamed = (name: unknown): AdminProtocol => {
    if (name === undefined) return deps.protocols[0]!;
    const found = deps.protocols.find((p) => p.protocol.name === name);
    if (!found) throw badRequest(`unknown protocol ${JSON.stringify(name)}; served: ${deps.protocols.map((p) => p.protocol.name).join(', ')}`);
    return found;
  };
  /** The registry holding a stored upstream (names are unique across protocols); null when none does. */
  const registryOf = async (name: string): Promise<UpstreamRegistry | null> => {
    const stored = (await describeAll()).find((u) => u.name === name && u.source === 'database');
    return stored ? protocolNamed(stored.protocol).registry : null;
  };

  router.get(`${PREFIX}/upstreams`, async (_req, res) => {
    res.json({ upstreams: await describeAll() });
  });

  router.get(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const found = (await describeAll()).filter((u) => u.name === req.params.name);
    if (found.length === 0) throw notFound(`no upstream named ${String(req.params.name)}`);
    // An environment upstream shadows a stored one of the same name: the active one comes first.
    found.sort((a, b) => Number(b.active) - Number(a.active));
    res.json({ upstream: found[0] });
  });

  router.post(`${PREFIX}/upstreams`, async (req, res) => {
    const { protocol, ...body } = parse(createBody, req);
    const { registry } = protocolNamed(protocol);
    const upstream = await adminCall(() => registry.add(body));
    res.status(201).location(`${PREFIX}/upstreams/${upstream.name}`).json({ upstream });
  });

  router.patch(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const body = parse(patchBody, req);
    const name = String(req.params.name);
    const registry = (await registryOf(name)) ?? deps.protocols[0]!.registry;
    const upstream = await adminCall(() => registry.change(name, body));
    if (!upstream) throw notFound(`no stored upstream named ${String(req.params.name)}`);
    res.json({ upstream });
  });

  router.delete(`${PREFIX}/upstreams/:name`, async (req, res) => {
    const name = String(req.params.name);
    const registry = (await registryOf(name)) ?? deps.protocols[0]!.registry;
    const removed = await adminCall(() => registry.remove(name));
    if (!removed) throw notFound(`no stored upstream named ${String(req.params.name)}`);
    res.status(204).end();
  });

  router.get(`${PREFIX}/cache/projects/:project`, async (req, res) => {
    const { protocol, pages } = protocolNamed(req.query.protocol);
    const project = projectName(protocol, req);
    const { fileIds, files, ...state } = await pages.state(project);
    const cached = await deps.artifacts.countCached(protocol.name, fileIds);
    res.json({ ...state, files: { listed: files, cached } });
  });

  router.delete(`${PREFIX}/cache/pages/:project`, async (req, res) => {
    const { protocol, pages, forgetPages } = protocolNamed(req.query.protocol);
    const project = projectName(protocol, req);
    const dropped = await pages.invalidate(project);
    await forgetPages?.(project);
    deps.logger.info({ protocol: protocol.name, project, dropped }, 'page invalidated');
    res.json({ project, dropped });
  });

  router.delete(`${PREFIX}/cache/pages`, async (req, res) => {
    const { protocol, pages, forgetPages } = protocolNamed(req.query.protocol);
    const dropped = await pages.invalidateAll();
    await forgetPages?.();
    deps.logger.info({ protocol: protocol.name, dropped }, 'every page invalidated');
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
