import type { Request, Router } from 'express';
import { ViewConflictError, ViewInputError, type ViewRegistry } from '../../../libs/views/index.js';
import { HttpError, badRequest, notFound } from '../http-errors.js';

export interface AdminViewsDeps {
  views: ViewRegistry;
}

/**
 * The policy views part of the admin API (mounted by `adminRoutes`, behind its token): `GET views`,
 * `GET`/`PUT`/`DELETE views/<name>`; the body of a `PUT` is the view's rules. Views of ORCHARD_VIEWS
 * are shown and cannot be changed here (409).
 */
export function mountAdminViews(router: Router, prefix: string, deps: AdminViewsDeps): void {
  const { views } = deps;

  router.get(`${prefix}/views`, async (_req, res) => {
    res.json({ views: await views.list() });
  });

  router.get(`${prefix}/views/:name`, async (req, res) => {
    const view = (await views.list()).find((v) => v.name === req.params.name);
    if (!view) throw notFound(`no view named ${String(req.params.name)}`);
    res.json({ view });
  });

  router.put(`${prefix}/views/:name`, async (req, res) => {
    const { view, created } = await viewCall(() => views.put(String(req.params.name), jsonBody(req)));
    res.status(created ? 201 : 200).json({ view });
  });

  router.delete(`${prefix}/views/:name`, async (req, res) => {
    if (!(await viewCall(() => views.delete(String(req.params.name))))) throw notFound(`no stored view named ${String(req.params.name)}`);
    res.status(204).end();
  });
}

function jsonBody(req: Request): unknown {
  if (!req.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  return req.body;
}

async function viewCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ViewInputError) throw badRequest(err.message);
    if (err instanceof ViewConflictError) throw new HttpError(409, 'conflict', err.message);
    throw err;
  }
}
