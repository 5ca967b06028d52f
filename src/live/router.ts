import { formatCursor } from '../change/cursor';
import type { RowHistory } from '../change/history';
import type { RowChange } from '../change/row-change';
import type { ModelRegistry } from '../model/registry';
import type { ResourceModel } from '../model/resource-model';
import { sameValue } from '../policy/evaluate';
import type { Publish } from './events';
import { loadRelations, type RelationNeeds } from './relations';
import { groupValues, topic } from './topics';

/**
 * Route: one captured change → the events of the topics it touches. The
 * instance topic gets the change itself; each group topic the row as it was
 * and is *in that group* (null where it was or is not in it), so the
 * subscriber's verdict only has to compare visibility before and after.
 * Related rows that active subscribers' policies read are loaded once here,
 * per event, for all of them — as they were just after the change, not as
 * they are now (./relations.ts, ../change/history.ts).
 */
export class Router {
  /** Lookups of the rows pointing at a changed row (see {@link routeDependents}) so far. */
  dependentLookups = 0;

  constructor(
    private readonly models: ModelRegistry,
    private readonly needs: RelationNeeds,
    private readonly history: RowHistory,
    /** Group values counted per row and group; see `LiveEngineOptions.maxGroupValues`. */
    private readonly maxGroupValues = 100,
  ) {}

  /** Publishes a change, and the transitions it causes for rows that point at it, through `publish`. */
  async route(change: RowChange, publish: Publish): Promise<void> {
    const model = this.models.forMetadata(change.metadata);
    if (!model) return;
    const before = change.op === 'insert' ? null : { ...change.before };
    const after = change.op === 'delete' ? null : { ...change.after };
    const cursor = change.cursor ? formatCursor(change.cursor) : undefined;
    await loadRelations(this.history, model, [before, after], this.needs.paths(model), change);
    publishChange(publish, model, change.id, before, after, false, cursor, this.maxGroupValues);
    if (change.op === 'update') await this.routeDependents(change, publish);
  }

  /** A custom event about `row`, to the event topics of the groups the row is in. */
  async routeEvent(model: ResourceModel, name: string, payload: unknown, row: Record<string, unknown>, publish: Publish): Promise<void> {
    const type = model.names.type;
    const after: Record<string, unknown> = { ...row };
    await loadRelations(this.history, model, [after], this.needs.paths(model), undefined);
    const id = row[model.primary.propertyName] as string | number;
    for (const [group, value] of groupMoves(model, null, row, this.maxGroupValues)) {
      publish(topic.event(type, name, group, value), { type, id, before: null, after, payload });
    }
  }

  /**
   * An update of a row that active subscribers' read policies look at
   * through a many-to-one relation (`Task.list` for `{ list: { private:
   * false } }`) changes which rows pointing at it they may see, though none
   * of those rows changed. Each such row is published with the related row
   * as it was and as it is, transition-only: a subscriber for whom it
   * disappears gets DELETED, one for whom it appears CREATED, others
   * nothing. One query per resource and relation, only while subscribers
   * with such a policy exist and only when the change touched a column such
   * a policy reads through the relation (a renamed list re-routes nothing).
   * (First relation level only.)
   */
  private async routeDependents(change: RowChange, publish: Publish): Promise<void> {
    const { before: was, after: is } = change;
    if (!was || !is) return;
    const changed = Object.keys({ ...was, ...is }).filter((k) => !sameValue(was[k], is[k]));
    if (!changed.length) return;
    let part = 0;
    for (const model of this.models.all) {
      for (const name of this.needs.relations(model)) {
        const relation = model.metadata.relations.find((r) => r.propertyName === name);
        if (!relation || relation.inverseEntityMetadata.target !== change.metadata.target || !relation.joinColumns.length) continue;
        // Only a change of a column some policy reads through this relation can change who sees the rows (a rename cannot).
        if (!this.needs.readsAny(model, name, changed)) continue;
        // The rows that pointed at it just after this change: a row that has moved away since is one of them.
        this.dependentLookups++;
        const rows = await this.history.dependentsAsOf(model.metadata, relation, change.id, change);
        const pairs = rows.map((plain) => {
          return { id: plain[model.primary.propertyName] as string | number, before: { ...plain, [name]: { ...was } }, after: { ...plain, [name]: { ...is } } };
        });
        await loadRelations(this.history, model, pairs.flatMap((p) => [p.before, p.after]), this.needs.paths(model), change);
        // Each its own cursor inside the change's (position:seq:i), so a client cut off mid-burst resumes inside it.
        for (const p of pairs) {
          const cursor = change.cursor && formatCursor({ ...change.cursor, part: ++part });
          publishChange(publish, model, p.id, p.before, p.after, true, cursor, this.maxGroupValues);
        }
      }
    }
  }
}

function publishChange(
  publish: Publish, model: ResourceModel, id: string | number,
  before: Record<string, unknown> | null, after: Record<string, unknown> | null, transitionOnly: boolean, cursor: string | undefined, max: number,
): void {
  const type = model.names.type;
  const extra = { ...(transitionOnly ? { transitionOnly } : {}), ...(cursor ? { cursor } : {}) };
  publish(topic.instance(type, id), { type, id, before, after, ...extra });
  for (const [group, value, wasIn, isIn] of groupMoves(model, before, after, max)) {
    publish(topic.group(type, group, value), { type, id, before: wasIn ? before : null, after: isIn ? after : null, ...extra });
  }
}

/** Per group value the row is in before or after: `[group, value, wasIn, isIn]`. */
export function* groupMoves(
  model: ResourceModel,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
  max = Infinity,
): Generator<[string, string, boolean, boolean]> {
  for (const [group, fn] of Object.entries(model.options.groups ?? {})) {
    const was = new Set(before ? groupValues(fn(before), max) : []);
    const is = new Set(after ? groupValues(fn(after), max) : []);
    for (const value of was) yield [group, value, true, is.has(value)];
    for (const value of is) if (!was.has(value)) yield [group, value, false, true];
  }
}
