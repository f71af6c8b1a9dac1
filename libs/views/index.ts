export { filterPage, type FilteredPage } from './view-filter.js';
export { ViewRegistry, ViewConflictError, ViewInputError, type View, type ViewDescription, type ViewRegistryDeps } from './view-registry.js';
export { ViewPages, COOLDOWN_STEP_MS, type ViewPageAnswer, type ViewPagesDeps } from './view-pages.js';
export { createViewMetrics, type ViewMetrics } from './view-metrics.js';
