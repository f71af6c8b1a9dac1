/** Label names any Orchard metric may carry: each takes values from a small fixed set (histograms add `le`). */
export const BOUNDED_LABELS: ReadonlySet<string> = new Set([
  'service',
  'protocol',
  'route',
  'method',
  'status',
  'status_class',
  'category',
  'result',
  'upstream',
  'kind',
  'outcome',
  'source',
  'queue',
  'state',
]);
