import type { EntityManager, EntityMetadata } from 'typeorm';
import { rowKey } from '../change/row-change';
import type { ResourceModel } from '../model/resource-model';

/**
 * Which relation paths the active subscribers' read policies look through
 * (`list`, `list.owner`), counted per resource: while no subscriber needs
 * one, an event loads nothing.
 */
export class RelationNeeds {
  private readonly use = new Map<string, Map<string, number>>();

  /** `delta` is +1 when a subscriber (or class) with these paths arrives, -1 when it leaves. */
  count(model: ResourceModel, paths: string[], delta: number): void {
    if (!paths.length) return;
    let use = this.use.get(model.names.type);
    if (!use) this.use.set(model.names.type, (use = new Map()));
    for (const path of paths) {
      const n = (use.get(path) ?? 0) + delta;
      if (n > 0) use.set(path, n);
      else use.delete(path);
    }
  }

  /** The paths needed for rows of `model` now. */
  paths(model: ResourceModel): string[] {
    const use = this.use.get(model.names.type);
    return use?.size ? [...use.keys()] : [];
  }

  /** The first-level relations of `model` some subscriber's policy reads. */
  relations(model: ResourceModel): Set<string> {
    return new Set(this.paths(model).map((p) => p.split('.')[0]));
  }
}

function isLoaded(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value === 'object';
}

/**
 * Loads the related rows along `paths` onto each row, once per event: each
 * related row is read once however many rows point at it. Walking
 * `list.owner` loads `list` on the way, so path order does not matter.
 */
export async function loadRelations(
  manager: EntityManager,
  model: ResourceModel,
  rows: (Record<string, unknown> | null)[],
  paths: string[],
): Promise<void> {
  if (!paths.length) return;
  const cache = new Map<string, Promise<Record<string, unknown> | null>>();
  const load = (metadata: EntityMetadata, id: unknown) => {
    const key = rowKey(metadata, id as string | number);
    let row = cache.get(key);
    if (!row) {
      row = manager.findOne(metadata.target, { where: { [metadata.primaryColumns[0].propertyName]: id } as Record<string, any> }) as Promise<Record<string, unknown> | null>;
      cache.set(key, row);
    }
    return row;
  };
  for (const row of rows) {
    if (!row) continue;
    for (const path of paths) {
      let holder: Record<string, unknown> | null = row;
      let metadata = model.metadata;
      for (const part of path.split('.')) {
        if (!holder) break;
        const relation = metadata.relations.find((r) => r.propertyName === part);
        if (!relation) break;
        if (!isLoaded(holder[part])) {
          const id = relation.joinColumns[0] ? holder[relation.joinColumns[0].propertyName] : undefined;
          const related = id === undefined || id === null ? null : await load(relation.inverseEntityMetadata, id);
          // A copy per row: events may annotate their rows, the cache must stay clean.
          holder[part] = related ? { ...related } : null;
        }
        holder = holder[part] as Record<string, unknown> | null;
        metadata = relation.inverseEntityMetadata;
      }
    }
  }
}
