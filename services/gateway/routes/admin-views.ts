import type { Router } from 'express';
import type { ViewRegistry } from '../../../libs/views/index.js';
import { notFound } from '../http-errors.js';
import { adminCall, jsonBody } from './admin-requests.js';

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
    const { view, created } = await adminCall(() => views.put(String(req.params.name), jsonBody(req)));
    res.status(created ? 201 : 200).json({ view });
  });

  router.delete(`${prefix}/views/:name`, async (req, res) => {
    if (!(await adminCall(() => views.delete(String(req.params.name))))) throw notFound(`no stored view named ${String(req.params.name)}`);
    res.status(204).end();
  });
}
