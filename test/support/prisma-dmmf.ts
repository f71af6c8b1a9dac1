import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The parts of a DMMF field the schema-agreement test reads. */
export interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'object' | 'enum' | 'unsupported';
  type: string;
  isList: boolean;
  isRequired: boolean;
  isId: boolean;
  isUnique: boolean;
  hasDefaultValue: boolean;
  /** e.g. ["Char", ["64"]] for `@db.Char(64)`. */
  nativeType: [string, string[]] | null;
}

/** The parts of a DMMF model the schema-agreement test reads. */
export interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
  uniqueFields: string[][];
}

/** The DMMF `datamodel` section. */
export interface DmmfDatamodel {
  models: DmmfModel[];
}

type WasmExports = {
  memory: WebAssembly.Memory;
  __wbindgen_start(): void;
  __wbindgen_malloc(size: number, align: number): number;
  __wbindgen_free(ptr: number, size: number, align: number): void;
  __wbindgen_externrefs: WebAssembly.Table;
  __externref_table_dealloc(index: number): void;
  get_dmmf(ptr: number, len: number): [number, number, number, number];
};

/**
 * Prisma 7's generated client ships only a reduced runtime data model (no nullability, lists or
 * native types), so the full DMMF comes from the schema wasm module the `prisma` CLI package
 * bundles, the same `get_dmmf` the CLI's own generators use. The wasm-bindgen glue below is the
 * minimum that one call needs; import names carry build hashes, so they are matched by prefix.
 */
export async function loadDmmf(schemaPath: string): Promise<DmmfDatamodel> {
  const require = createRequire(import.meta.url);
  const wasmPath = join(dirname(require.resolve('prisma/package.json')), 'build', 'prisma_schema_build_bg.wasm');
  const module = new WebAssembly.Module(await readFile(wasmPath));
  const decoder = new TextDecoder();
  // The imports below close over `ex`, declared after them: wasm calls them only once it runs
  // (`__wbindgen_start` and `get_dmmf`), by when `ex` is set.
  const text = (ptr: number, len: number): string => decoder.decode(new Uint8Array(ex.memory.buffer, ptr >>> 0, len >>> 0));
  const imports: Record<string, (...args: number[]) => unknown> = {};
  for (const { name } of WebAssembly.Module.imports(module)) {
    if (name.startsWith('__wbg_Error_')) imports[name] = (p, l) => new Error(text(p!, l!));
    else if (name.startsWith('__wbg_set_message_')) imports[name] = () => undefined;
    else if (name.includes('wbindgen_throw'))
      imports[name] = (p, l) => {
        throw new Error(text(p!, l!));
      };
    else if (name === '__wbindgen_init_externref_table') {
      imports[name] = () => {
        const table = ex.__wbindgen_externrefs;
        const base = table.grow(4);
        table.set(0, undefined);
        [undefined, null, true, false].forEach((v, i) => table.set(base + i, v));
      };
    } else
      imports[name] = () => {
        throw new Error(`unexpected wasm import ${name}; Prisma's schema wasm changed`);
      };
  }
  const ex = new WebAssembly.Instance(module, { __wbindgen_placeholder__: imports }).exports as unknown as WasmExports;
  ex.__wbindgen_start();

  const schema = await readFile(schemaPath, 'utf8');
  const params = new TextEncoder().encode(JSON.stringify({ prismaSchema: [[schemaPath, schema]] }));
  const ptr = ex.__wbindgen_malloc(params.length, 1);
  new Uint8Array(ex.memory.buffer, ptr, params.length).set(params);
  const [outPtr, outLen, errIndex, failed] = ex.get_dmmf(ptr, params.length);
  if (failed) {
    const error: unknown = ex.__wbindgen_externrefs.get(errIndex);
    ex.__externref_table_dealloc(errIndex);
    throw error;
  }
  const json = text(outPtr, outLen);
  ex.__wbindgen_free(outPtr, outLen, 1);
  return (JSON.parse(json) as { datamodel: DmmfDatamodel }).datamodel;
}
