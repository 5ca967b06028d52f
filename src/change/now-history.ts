import { In, type DataSource, type EntityMetadata } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { RowHistory, RowState } from './history';
import { snapshot } from './row-change';
import { rowsReferencing } from '../model/relations';

/**
 * Rows as the database has them now: what routing uses when nothing is
 * known about commits that have not been routed yet (no capture), and the
 * base the captures correct.
 */
export class NowHistory implements RowHistory {
  constructor(private readonly dataSource: DataSource) {}

  async rowsAsOf(metadata: EntityMetadata, ids: (string | number)[]): Promise<Map<string, RowState>> {
    const pk = metadata.primaryColumns[0].propertyName;
    const out = new Map<string, RowState>(ids.map((id) => [String(id), null]));
    if (!ids.length) return out;
    const rows = await this.dataSource.manager.find(metadata.target, { where: { [pk]: In(ids) } as Record<string, any> });
    for (const row of rows) out.set(String(row[pk]), snapshot(metadata, row) ?? null);
    return out;
  }

  async dependentsAsOf(dependant: EntityMetadata, relation: RelationMetadata, id: string | number): Promise<Record<string, unknown>[]> {
    const rows = await rowsReferencing(this.dataSource.manager, dependant, relation, id);
    return rows.map((row) => snapshot(dependant, row)!);
  }
}
