/**
 * The protocols this build of Orchard speaks. This is the one module outside a protocol's own folder
 * that names implementations: adding a protocol is its folder plus one entry here.
 */
import { npmProtocol } from './npm/index.js';
import { pypiProtocol } from './pypi/index.js';
import { ProtocolRegistry } from './registry.js';
import type { ProtocolAdapter } from './types.js';

/** In order; the first is the primary protocol (see {@link ProtocolRegistry.primary}). */
const REGISTERED: readonly ProtocolAdapter[] = [pypiProtocol, npmProtocol];

/** A registry of every protocol this build speaks. */
export function registeredProtocols(): ProtocolRegistry {
  return new ProtocolRegistry(REGISTERED);
}

/** Whether `name` is a registered protocol (queue payloads and stored rows are checked with this). */
export function isRegisteredProtocol(name: string): boolean {
  return REGISTERED.some((adapter) => adapter.name === name);
}

/** The primary protocol: the one `ORCHARD_UPSTREAMS` configures (its default list included). */
export function primaryProtocol(): ProtocolAdapter {
  return REGISTERED[0]!;
}
