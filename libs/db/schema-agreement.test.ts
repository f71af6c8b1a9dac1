import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDmmf, type DmmfDatamodel, type DmmfField } from '../../test/support/prisma-dmmf.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres.js';
import { runMigrations } from './migrate.js';

const schemaPath = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));

interface ColumnInfo {
  table_name: string;
  column_name: string;
  is_nullable: 'YES' | 'NO';
  data_type: string;
  udt_name: string;
  character_maximum_length: number | null;
  datetime_precision: number | null;
}

const UDT_BY_PRISMA_TYPE: Record<string, string> = {
  String: 'text',
  Int: 'int4',
  BigInt: 'int8',
  Boolean: 'bool',
  DateTime: 'timestamp',
  Float: 'float8',
  Decimal: 'numeric',
  Json: 'jsonb',
  Bytes: 'bytea',
};

/** The column type Prisma's PostgreSQL migrations would create for a field. */
function expectedUdt(field: DmmfField): { udt: string; length?: number } {
  if (field.nativeType?.[0] === 'Char') return { udt: 'bpchar', length: Number(field.nativeType[1][0]) };
  if (field.nativeType !== null) throw new Error(`no expectation for native type ${field.nativeType[0]}`);
  const udt = UDT_BY_PRISMA_TYPE[field.type];
  if (udt === undefined) throw new Error(`no expectation for Prisma type ${field.type}`);
  return { udt };
}

/** Every disagreement between the Prisma data model and the database's columns, as readable lines. */
async function schemaMismatches(datamodel: DmmfDatamodel, client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<ColumnInfo>(
    `SELECT table_name, column_name, is_nullable, data_type, udt_name, character_maximum_length, datetime_precision
       FROM information_schema.columns WHERE table_schema = 'public'`,
  );
  const columns = new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r]));
  const known = new Set<string>();
  const problems: string[] = [];
  for (const model of datamodel.models) {
    const table = model.dbName ?? model.name;
    if (!rows.some((r) => r.table_name === table)) {
      problems.push(`table ${table} (model ${model.name}) is missing`);
      continue;
    }
    for (const field of model.fields.filter((f) => f.kind === 'scalar')) {
      const key = `${table}.${field.dbName ?? field.name}`;
      known.add(key);
      const column = columns.get(key);
      if (column === undefined) {
        problems.push(`column ${key} (${model.name}.${field.name}) is missing`);
        continue;
      }
      const { udt, length } = expectedUdt(field);
      const actualUdt = field.isList ? column.udt_name.replace(/^_/, '') : column.udt_name;
      if (field.isList !== (column.data_type === 'ARRAY')) problems.push(`${key}: list ${field.isList}, column ${column.data_type}`);
      if (actualUdt !== udt) problems.push(`${key}: expected ${udt}, found ${column.udt_name}`);
      if (length !== undefined && column.character_maximum_length !== length) {
        problems.push(`${key}: expected length ${length}, found ${column.character_maximum_length}`);
      }
      if (field.type === 'DateTime' && column.datetime_precision !== 3) {
        problems.push(`${key}: expected TIMESTAMP(3), found precision ${column.datetime_precision}`);
      }
      // Prisma creates scalar-list columns nullable; any other required field must be NOT NULL.
      const nullable = column.is_nullable === 'YES';
      if (!field.isList && field.isRequired === nullable) {
        problems.push(`${key}: expected ${field.isRequired ? 'NOT NULL' : 'nullable'}`);
      }
    }
  }
  const tables = new Set(datamodel.models.map((m) => m.dbName ?? m.name));
  for (const r of rows) {
    const key = `${r.table_name}.${r.column_name}`;
    if (tables.has(r.table_name) && !known.has(key)) problems.push(`column ${key} is not in schema.prisma`);
  }
  return problems;
}

/** Unique and primary-key column sets per table, as "table(col,col)". */
async function uniqueColumnSets(client: pg.Client): Promise<Set<string>> {
  const { rows } = await client.query<{ key: string }>(
    `SELECT t.relname || '(' || string_agg(a.attname, ',' ORDER BY k.ord) || ')' AS key
       FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
      WHERE i.indisunique
      GROUP BY i.indexrelid, t.relname`,
  );
  return new Set(rows.map((r) => r.key));
}

describe('schema.prisma and the migrations agree', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let datamodel: DmmfDatamodel;

  beforeAll(async () => {
    datamodel = await loadDmmf(schemaPath);
    db = await createTestDatabase();
    await runMigrations({ databaseUrl: db.url });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('has every model and scalar field as a table and column of a compatible type and nullability', async () => {
    expect(datamodel.models.length).toBeGreaterThan(0);
    expect(await schemaMismatches(datamodel, client)).toEqual([]);
  });

  it('has a unique index for every id, @unique and @@unique', async () => {
    const unique = await uniqueColumnSets(client);
    for (const model of datamodel.models) {
      const table = model.dbName ?? model.name;
      const column = (name: string) => {
        const field = model.fields.find((f) => f.name === name);
        return field?.dbName ?? name;
      };
      const sets = [...model.fields.filter((f) => f.isId || f.isUnique).map((f) => [f.name]), ...(model.primaryKey ? [model.primaryKey.fields] : []), ...model.uniqueFields];
      for (const set of sets) expect(unique).toContain(`${table}(${set.map(column).join(',')})`);
    }
  });

  it('reports a misnamed column', async () => {
    await client.query('BEGIN');
    try {
      await client.query('ALTER TABLE "artifact" RENAME COLUMN "storage_key" TO "storagekey"');
      expect(await schemaMismatches(datamodel, client)).toEqual([
        'column artifact.storage_key (Artifact.storageKey) is missing',
        'column artifact.storagekey is not in schema.prisma',
      ]);
    } finally {
      await client.query('ROLLBACK');
    }
  });
});
