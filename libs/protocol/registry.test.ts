import { describe, expect, it } from 'vitest';
import { UnknownProtocolError } from './errors.js';
import { isRegisteredProtocol, registeredProtocols } from './registered-protocols.js';
import { ProtocolRegistry } from './registry.js';
import type { ProtocolAdapter } from './types.js';

const adapter = (name: string) => ({ name }) as ProtocolAdapter;

describe('ProtocolRegistry', () => {
  it('looks adapters up by name, the first registered being the primary one', () => {
    const registry = new ProtocolRegistry([adapter('one'), adapter('two')]);
    expect(registry.names()).toEqual(['one', 'two']);
    expect(registry.primary.name).toBe('one');
    expect(registry.get('two').name).toBe('two');
    expect(registry.has('three')).toBe(false);
    expect(() => registry.get('three')).toThrow(UnknownProtocolError);
  });

  it('refuses an empty registry and a name registered twice', () => {
    expect(() => new ProtocolRegistry([])).toThrow('at least one protocol');
    expect(() => new ProtocolRegistry([adapter('one'), adapter('one')])).toThrow('registered twice');
  });

  it('registers every protocol this build speaks', () => {
    const registry = registeredProtocols();
    expect(registry.names().length).toBeGreaterThan(0);
    for (const name of registry.names()) expect(isRegisteredProtocol(name)).toBe(true);
    expect(isRegisteredProtocol('no-such-protocol')).toBe(false);
  });
});
