import type { Request, Router } from 'express';
import type { StorageLifecycleSettings } from '../../../libs/config/index.js';
import type { StorageRepository } from '../../../libs/db/index.js';
import type { Logger } from '../../../libs/log/index.js';
import type { ProtocolAdapter } from '../../../libs/protocol/index.js';
import { badRequest, notFound } from '../http-errors.js';

export interface AdminStorageDeps {
  storage: StorageRepository;
  storageQuota: StorageLifecycleSettings;
  protocol: ProtocolAdapter;
  logger: Logger;
}

const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+!-]{0,99}$/;

/**
 * The storage part of the admin API (mounted by `adminRoutes`, behind its token):
 * `GET storage` (usage against the quota, hit ratio, serve times, top projects by bytes) and pins,
 * `GET pins`, `PUT`/`DELETE pins/<project>` (every version) and `pins/<project>/<version>`.
 */
export function mountAdminStorage(router: Router, prefix: string, deps: AdminStorageDeps): void {
  const { storage, storageQuota, protocol } = deps;

  router.get(`${prefix}/storage`, async (_req, res) => {
    const report = await storage.report();
    const pins = await storage.pins();
    const quota = storageQuota.quotaBytes;
    res.json({
      quota: quota === undefined ? null : { bytes: quota, lowWaterBytes: storageQuota.lowWaterBytes, used: report.bytes / quota },
      usage: { bytes: report.bytes, files: report.files },
      evictedFiles: report.evictedFiles,
      // Serves are counted only with a quota (they order eviction).
      tracking: quota !== undefined,
      hitRatio: report.hitRatio,
      served: report.served,
      fetched: report.fetched,
      oldestServedAt: report.oldestServedAt,
      newestServedAt: report.newestServedAt,
      topProjects: report.topProjects,
      pins: pins.length,
    });
  });

  router.get(`${prefix}/pins`, async (_req, res) => {
    res.json({ pins: (await storage.pins()).map(({ protocol, project, version, createdAt }) => ({ protocol, project, version: version || null, createdAt })) });
  });

  const pinRoutes = [`${prefix}/pins/:project`, `${prefix}/pins/:project/:version`];
  router.put(pinRoutes, async (req, res) => {
    const pin = pinOf(protocol, req);
    const added = await storage.addPin(pin);
    if (added) deps.logger.info(pin, 'pinned');
    res.status(added ? 201 : 200).json({ pin: { ...pin, version: pin.version || null } });
  });

  router.delete(pinRoutes, async (req, res) => {
    const pin = pinOf(protocol, req);
    if (!(await storage.removePin(pin))) throw notFound(`no pin of ${pin.project}${pin.version ? ` ${pin.version}` : ''}`);
    deps.logger.info(pin, 'unpinned');
    res.status(204).end();
  });
}

function pinOf(protocol: ProtocolAdapter, req: Request): { protocol: string; project: string; version: string } {
  const raw = String(req.params.project);
  if (!protocol.isValidProjectName(raw)) throw badRequest('invalid project name');
  const version = req.params.version === undefined ? '' : String(req.params.version);
  if (version !== '' && !VERSION.test(version)) throw badRequest('invalid version');
  return { protocol: protocol.name, project: protocol.normalizeName(raw), version };
}
