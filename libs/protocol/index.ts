/**
 * The protocol boundary: the adapter contract, its neutral errors and the registry of the protocols
 * this build speaks. Services and other libs import from here, never from an implementation.
 */
export * from './types.js';
export { PageLimitError, type PageLimits } from './page-limits.js';
export { ArtifactMetadataError, EnvironmentQueryError, MalformedPageError, UnknownProtocolError } from './errors.js';
export { ProtocolRegistry } from './registry.js';
export { isRegisteredProtocol, primaryProtocol, registeredProtocols } from './registered-protocols.js';
