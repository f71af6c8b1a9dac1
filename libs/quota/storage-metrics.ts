import { Counter, Gauge, type Registry } from 'prom-client';

/** The storage job's metrics, registered only where it runs (the fetcher): other services would show zeros. */
export function createStorageMetrics(registry: Registry) {
  return {
    bytes: new Gauge({ name: 'orchard_storage_bytes', help: 'Bytes of files in storage (as of the last storage job run)', registers: [registry], aggregator: 'max' }),
    files: new Gauge({ name: 'orchard_storage_files', help: 'Files in storage (as of the last storage job run)', registers: [registry], aggregator: 'max' }),
    quotaBytes: new Gauge({ name: 'orchard_storage_quota_bytes', help: 'ORCHARD_STORAGE_QUOTA in bytes (0: no quota)', registers: [registry], aggregator: 'max' }),
    evictions: new Counter({
      name: 'orchard_evictions_total',
      help: 'Files evicted from storage, by reason (unreferenced: no configured upstream lists them; quota: least recently served)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    orphans: new Counter({
      name: 'orchard_storage_orphans_removed_total',
      help: 'Unfinished writes removed by the storage job (fs temporary files, S3 incomplete multipart uploads)',
      registers: [registry],
    }),
  };
}

export type StorageMetrics = ReturnType<typeof createStorageMetrics>;
