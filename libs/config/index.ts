export { loadSettings, loadSettingsOrExit, ConfigError } from './settings.js';
export type { Settings, StorageSettings } from './settings.js';
export { parseUpstreams, parseUpstreamUrl } from './upstreams.js';
export type { UpstreamConfig, UpstreamAuth } from './upstreams.js';
