export { filterPage, type FilteredPage } from './view-filter.js';
export { ViewRegistry, ViewConflictError, ViewInputError, ViewsUnavailableError, describeView, type View, type ViewDescription, type ViewRegistryDeps } from './view-registry.js';
export { ViewPages, type ViewPageAnswer, type ViewPagesDeps, type ViewRootAnswer } from './view-pages.js';
export { createViewMetrics, type ViewMetrics } from './view-metrics.js';
