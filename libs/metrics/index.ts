export { createMetrics } from './registry.js';
export type { Metrics, ServiceName } from './registry.js';
export { methodLabel, statusClass } from './labels.js';
export { answerClusterScrapes, clusterScrape } from './cluster-scrape.js';
