import { Counter, type Registry } from 'prom-client';

export interface ViewMetrics {
  hidden: Counter<'view' | 'rule' | 'kind'>;
}

/** `orchard_view_hidden_total`: files (`kind` file) and versions left without a file (`kind` version) each view's rules hid, counted as each view page is built. */
export function createViewMetrics(registry: Registry): ViewMetrics {
  return {
    hidden: new Counter({
      name: 'orchard_view_hidden_total',
      help: 'Files and versions hidden by a policy view, by rule, counted when a view page is built',
      labelNames: ['view', 'rule', 'kind'] as const,
      registers: [registry],
    }),
  };
}
