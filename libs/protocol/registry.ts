import { UnknownProtocolError } from './errors.js';
import type { ProtocolAdapter } from './types.js';

/** Protocol name → adapter. Services look adapters up here, by the name a job or a row carries. */
export class ProtocolRegistry {
  private readonly byName: ReadonlyMap<string, ProtocolAdapter>;

  /** @param adapters in order; the first is the {@link primary} protocol */
  constructor(adapters: readonly ProtocolAdapter[]) {
    if (adapters.length === 0) throw new Error('a protocol registry needs at least one protocol');
    const byName = new Map<string, ProtocolAdapter>();
    for (const adapter of adapters) {
      if (byName.has(adapter.name)) throw new Error(`protocol ${JSON.stringify(adapter.name)} is registered twice`);
      byName.set(adapter.name, adapter);
    }
    this.byName = byName;
  }

  /**
   * The protocol `ORCHARD_UPSTREAMS` configures and the index routes (`/simple/`) serve: the first
   * registered one.
   */
  get primary(): ProtocolAdapter {
    return this.byName.values().next().value!;
  }

  /** Every registered protocol name, in registration order. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** @throws UnknownProtocolError when no protocol of that name is registered */
  get(name: string): ProtocolAdapter {
    const adapter = this.byName.get(name);
    if (!adapter) throw new UnknownProtocolError(name);
    return adapter;
  }
}
