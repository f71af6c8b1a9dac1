export { loadSettings, loadSettingsOrExit, ConfigError } from './settings.js';
export type { ProtocolSettings, Settings, StorageLifecycleSettings, StorageSettings } from './settings.js';
export { parseUpstreams, parseUpstreamUrl } from './upstreams.js';
export type { UpstreamConfig, UpstreamAuth } from './upstreams.js';
export { parseByteSize } from './byte-size.js';
export { VIEW_NAME, compileConfiguredViews, compileRules, parseViewsText, viewRulesSchema, InvalidViewRulesError } from './view-rules.js';
export type { CompiledRules, HidingRule, ViewRules } from './view-rules.js';
