import type { EntityMetadata } from 'typeorm';

/**
 * The entity's table as `schema.table` — the name the outbox triggers record
 * (`TG_TABLE_SCHEMA.TG_TABLE_NAME`). An entity without a schema of its own
 * lives in the DataSource's schema, else in `public`.
 */
export function qualifiedTable(metadata: EntityMetadata): string {
  if (metadata.tablePath.includes('.')) return metadata.tablePath;
  const schema = metadata.schema ?? (metadata.dataSource.options as { schema?: string }).schema ?? 'public';
  return `${schema}.${metadata.tablePath}`;
}

/** {@link qualifiedTable}, each part quoted for SQL. */
export function quotedTable(metadata: EntityMetadata): string {
  return qualifiedTable(metadata).split('.').map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
}
