import type { EntityMetadata } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { RowHistory, RowState } from '../change/history';
import type { RowChange } from '../change/row-change';
import type { ResourceModel } from '../model/resource-model';

/**
 * Which relation paths the active subscribers' read policies look through
 * (`list`, `list.owner`), counted per resource: while no subscriber needs
 * one, an event loads nothing.
 */
export class RelationNeeds {
  private readonly use = new Map<string, Map<string, number>>();
  /** `relation.property` reads (see `relationReads`), counted per resource the same way. */
  private readonly reads = new Map<string, Map<string, number>>();

  /**
   * `delta` is +1 when a subscriber (or class) with these paths and reads
   * arrives, -1 when it leaves.
   */
  count(model: ResourceModel, needs: { paths: string[]; reads: string[] }, delta: number): void {
    tally(this.use, model.names.type, needs.paths, delta);
    tally(this.reads, model.names.type, needs.reads, delta);
  }

  /** Whether some subscriber's policy on `model` reads one of `properties` of the row its `relation` points at. */
  readsAny(model: ResourceModel, relation: string, properties: Iterable<string>): boolean {
    const reads = this.reads.get(model.names.type);
    if (!reads) return false;
    for (const property of properties) if (reads.has(`${relation}.${property}`)) return true;
    return false;
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

function tally(counts: Map<string, Map<string, number>>, type: string, keys: string[], delta: number): void {
  if (!keys.length) return;
  let use = counts.get(type);
  if (!use) counts.set(type, (use = new Map()));
  for (const key of keys) {
    const n = (use.get(key) ?? 0) + delta;
    if (n > 0) use.set(key, n);
    else use.delete(key);
  }
  if (!use.size) counts.delete(type);
}

function isLoaded(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value === 'object';
}

interface Step {
  holder: Record<string, unknown>;
  metadata: EntityMetadata;
  parts: string[];
}

/**
 * Loads the related rows along `paths` onto each row, as of just after the
 * change `at` (see {@link RowHistory}): level by level, each related table
 * asked once per level for every row it must give. Walking `list.owner`
 * loads `list` on the way, so path order does not matter.
 */
export async function loadRelations(
  history: RowHistory,
  model: ResourceModel,
  rows: (Record<string, unknown> | null)[],
  paths: string[],
  at: RowChange | undefined,
): Promise<void> {
  if (!paths.length) return;
  let steps: Step[] = [];
  for (const row of rows) if (row) for (const path of paths) steps.push({ holder: row, metadata: model.metadata, parts: path.split('.') });
  while (steps.length) {
    const wanted = new Map<EntityMetadata, Set<string | number>>();
    const pending: { step: Step; relation: RelationMetadata; id: unknown }[] = [];
    for (const step of steps) {
      const relation = step.metadata.relations.find((r) => r.propertyName === step.parts[0]);
      if (!relation) continue;
      const current = step.holder[relation.propertyName];
      const id = isLoaded(current) ? undefined : relation.joinColumns[0] ? step.holder[relation.joinColumns[0].propertyName] : undefined;
      if (id !== undefined && id !== null) {
        const target = relation.inverseEntityMetadata;
        if (!wanted.has(target)) wanted.set(target, new Set());
        wanted.get(target)!.add(id as string | number);
      }
      pending.push({ step, relation, id });
    }
    const loaded = new Map<EntityMetadata, Map<string, RowState>>();
    for (const [metadata, ids] of wanted) loaded.set(metadata, await history.rowsAsOf(metadata, [...ids], at));
    const next: Step[] = [];
    for (const { step, relation, id } of pending) {
      const part = relation.propertyName;
      if (!isLoaded(step.holder[part])) {
        const state = id === undefined || id === null ? null : loaded.get(relation.inverseEntityMetadata)?.get(String(id)) ?? null;
        // A copy per row: events may annotate their rows, loaded states stay clean.
        step.holder[part] = state ? { ...state } : null;
      }
      const related = step.holder[part] as Record<string, unknown> | null;
      if (related && step.parts.length > 1) next.push({ holder: related, metadata: relation.inverseEntityMetadata, parts: step.parts.slice(1) });
    }
    steps = next;
  }
}
