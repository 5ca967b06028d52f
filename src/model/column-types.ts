import type { DataSource } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import { SchemaDefinitionError } from '../errors';
import { names } from './names';

/** The column's database type as a lower-case name, whether it was declared by name or by constructor (`Number`). */
export function columnTypeName(dataSource: DataSource, column: ColumnMetadata): string {
  return String(typeof column.type === 'string' ? column.type : dataSource.driver.normalizeType(column)).toLowerCase();
}

/** The GraphQL scalar a column is exposed as. */
export function scalarFor(dataSource: DataSource, column: ColumnMetadata): string {
  switch (columnTypeName(dataSource, column)) {
    case 'int': case 'int2': case 'int4': case 'integer': case 'smallint': case 'tinyint': case 'mediumint':
      return 'Int';
    case 'float': case 'float4': case 'float8': case 'real': case 'double precision': case 'double':
      return 'Float';
    case 'bool': case 'boolean':
      return 'Boolean';
    case 'timestamp': case 'timestamptz': case 'timestamp without time zone': case 'timestamp with time zone':
    case 'datetime': case 'datetime2':
      return names.dateTimeScalar;
    case 'json': case 'jsonb': case 'simple-json':
      return names.jsonScalar;
    // bigint and numeric arrive from pg as strings to keep their precision; so does date.
    default:
      return 'String';
  }
}

/** Largest value of an integer column; a value beyond it would make PostgreSQL fail the whole query. */
export function integerMax(dataSource: DataSource, column: ColumnMetadata): bigint {
  switch (columnTypeName(dataSource, column)) {
    case 'smallint': case 'int2': return 32767n;
    case 'bigint': case 'int8': return 9223372036854775807n;
    default: return 2147483647n;
  }
}

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

/** An enum column's values by GraphQL name; a value with no usable name fails the schema build. */
export function enumValuesOf(column: ColumnMetadata, where: string): Record<string, string | number> {
  const values: Record<string, string | number> = {};
  for (const value of column.enum ?? []) {
    let name = String(value);
    if (!GRAPHQL_NAME.test(name)) name = name.toUpperCase().replace(/[^_0-9A-Z]/g, '_').replace(/^(\d)/, '_$1');
    if (!GRAPHQL_NAME.test(name) || name in values) {
      throw new SchemaDefinitionError(`${where}: enum value ${JSON.stringify(value)} has no usable GraphQL name`);
    }
    values[name] = value;
  }
  return values;
}
