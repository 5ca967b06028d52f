import type { EntityMetadata } from 'typeorm';

/**
 * A row as PostgreSQL's `row_to_json` gives it (column names, JSON types) →
 * entity properties typed as TypeORM would load them (dates as Date, bigint
 * as string, transformers applied).
 */
export function decodeRow(metadata: EntityMetadata, row: Record<string, unknown> | null | undefined): Record<string, unknown> | undefined {
  if (!row) return undefined;
  const driver = metadata.connection.driver;
  const out: Record<string, unknown> = {};
  for (const column of metadata.columns) {
    if (!(column.databaseName in row)) continue;
    let raw = row[column.databaseName];
    // row_to_json renders numeric/bigint as JSON numbers; TypeORM loads them as strings.
    if (typeof raw === 'number' && /^(bigint|int8|numeric|decimal)$/i.test(String(column.type))) raw = String(raw);
    if (raw !== null && typeof raw === 'object' && /^(json|jsonb|simple-json)$/i.test(String(column.type))) {
      out[column.propertyName] = raw;
      continue;
    }
    out[column.propertyName] = driver.prepareHydratedValue(raw, column);
  }
  return out;
}
