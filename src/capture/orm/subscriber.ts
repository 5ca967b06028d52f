import type {
  DataSource, EntityManager, EntityMetadata, EntitySubscriberInterface, InsertEvent, QueryRunner, RecoverEvent, RemoveEvent, SoftRemoveEvent,
  TransactionCommitEvent, TransactionRollbackEvent, TransactionStartEvent, UpdateEvent,
} from 'typeorm';
import { carryDeletedParents } from '../../change/cascade';
import { collapse, rowKey, snapshot, type ChangeSink, type RowChange } from '../../change/row-change';
import { scalarId } from '../../model/ids';
import { rowsReferencing } from '../../model/relations';

/** What one transaction or savepoint level has recorded so far. */
interface Frame {
  changes: RowChange[];
  deferred: (() => void)[];
}

/**
 * ORM capture: a TypeORM entity subscriber that turns every insert, update,
 * remove, soft-remove and recover made through the DataSource — our
 * resolvers, custom resolvers, scripts — into RowChanges, buffered per
 * QueryRunner with one frame per savepoint level: released savepoints merge
 * into their parent, rolled-back ones are dropped, the outermost commit
 * publishes. A change made with no transaction open is published at once.
 *
 * QueryBuilder `update()`/`delete()` carry no ids and are not seen; use
 * `bulkUpdate` / `bulkDelete` (./bulk.ts), or database capture.
 */
export class OrmCapture implements EntitySubscriberInterface {
  private readonly frames = new WeakMap<QueryRunner, Frame[]>();
  /** Per runner: rows that ON DELETE CASCADE takes with a row being removed, read before its DELETE. */
  private readonly cascades = new WeakMap<QueryRunner, Map<string, RowChange[]>>();

  constructor(private readonly dataSource: DataSource, private readonly sink: ChangeSink, private readonly entities: Set<unknown>) {}

  /** Registers with the DataSource (instances pushed here are called like `@EventSubscriber()` classes). */
  install(): this {
    this.dataSource.subscribers.push(this);
    return this;
  }

  uninstall(): void {
    const i = this.dataSource.subscribers.indexOf(this);
    if (i >= 0) this.dataSource.subscribers.splice(i, 1);
  }

  /** Adds changes to the transaction open on `queryRunner`, or publishes them when none is. */
  record(queryRunner: QueryRunner | undefined, changes: RowChange[]): void {
    const relevant = changes.filter((c) => this.entities.has(c.metadata.target));
    if (!relevant.length) return;
    const stack = queryRunner && queryRunner.isTransactionActive ? this.frames.get(queryRunner) : undefined;
    if (stack?.length) stack[stack.length - 1].changes.push(...relevant);
    else this.publish(relevant);
  }

  /** One transaction's changes (or one statement's, outside a transaction) to the sink, as database capture gives them. */
  private publish(changes: RowChange[]): void {
    this.sink(collapse(carryDeletedParents(changes)));
  }

  /** Runs `work` after the outermost commit of the transaction open on `queryRunner` (never on rollback), or now. */
  defer(queryRunner: QueryRunner | undefined, work: () => void): void {
    const stack = queryRunner && queryRunner.isTransactionActive ? this.frames.get(queryRunner) : undefined;
    if (stack?.length) stack[stack.length - 1].deferred.push(work);
    else work();
  }

  afterTransactionStart(event: TransactionStartEvent): void {
    const stack = this.frames.get(event.queryRunner) ?? [];
    // A stack left over from a runner whose depth went back to 1 would be stale.
    if ((event.queryRunner as unknown as { transactionDepth?: number }).transactionDepth === 1) stack.length = 0;
    stack.push({ changes: [], deferred: [] });
    this.frames.set(event.queryRunner, stack);
  }

  afterTransactionCommit(event: TransactionCommitEvent): void {
    const stack = this.frames.get(event.queryRunner);
    const frame = stack?.pop();
    if (!stack || !frame) return;
    if (stack.length > 0) {
      stack[stack.length - 1].changes.push(...frame.changes);
      stack[stack.length - 1].deferred.push(...frame.deferred);
      return;
    }
    if (frame.changes.length) this.publish(frame.changes);
    for (const work of frame.deferred) work();
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    this.frames.get(event.queryRunner)?.pop();
  }

  afterInsert(event: InsertEvent<any>): void {
    const after = snapshot(event.metadata, event.entity);
    const id = event.metadata.getEntityIdMixedMap(event.entity);
    if (after && id !== undefined) this.record(event.queryRunner, [{ metadata: event.metadata, op: 'insert', id: scalarId(id), after }]);
  }

  afterUpdate(event: UpdateEvent<any>): void {
    const metadata = event.metadata;
    const base = event.databaseEntity ?? undefined;
    const id = base ? metadata.getEntityIdMixedMap(base) : event.entity ? metadata.getEntityIdMixedMap(event.entity) : undefined;
    // QueryBuilder updates arrive without ids or old rows: nothing to route.
    if (!base || id === undefined) return;
    const before = snapshot(metadata, base);
    const after = { ...before, ...snapshot(metadata, event.entity as Record<string, any>) };
    this.record(event.queryRunner, [{ metadata, op: 'update', id: scalarId(id), before, after }]);
  }

  /**
   * The database deletes the rows that reference this one with ON DELETE
   * CASCADE (a list's tasks) without TypeORM seeing them: read them now,
   * inside the transaction, and record them as deleted with the row.
   */
  async beforeRemove(event: RemoveEvent<any>): Promise<void> {
    const id = removedId(event);
    if (id === undefined || !event.queryRunner) return;
    const doomed = await this.cascadedRows(event.manager, event.metadata, id, 0);
    let stash = this.cascades.get(event.queryRunner);
    if (!stash) this.cascades.set(event.queryRunner, (stash = new Map()));
    const key = rowKey(event.metadata, id);
    if (doomed.length) stash.set(key, doomed);
    else stash.delete(key);
  }

  afterRemove(event: RemoveEvent<any>): void {
    const id = removedId(event);
    const stash = event.queryRunner && this.cascades.get(event.queryRunner);
    const doomed = id !== undefined ? stash?.get(rowKey(event.metadata, id)) : undefined;
    if (doomed) stash!.delete(rowKey(event.metadata, id!));
    // Paired here, before `record` leaves out entities nobody subscribes to: the removed row may be one.
    this.record(event.queryRunner, carryDeletedParents([...(doomed ?? []), ...this.removed(event)]));
  }

  /** Captured rows that reference `id` through a CASCADE foreign key, their own dependants first. */
  private async cascadedRows(manager: EntityManager, metadata: EntityMetadata, id: string | number, depth: number): Promise<RowChange[]> {
    if (depth > 8) return [];
    const out: RowChange[] = [];
    for (const dependant of manager.connection.entityMetadatas) {
      if (!this.entities.has(dependant.target)) continue;
      for (const relation of dependant.relations) {
        if (!(relation.isManyToOne || relation.isOneToOneOwner) || relation.onDelete !== 'CASCADE') continue;
        if (relation.inverseEntityMetadata.target !== metadata.target) continue;
        for (const row of await rowsReferencing(manager, dependant, relation, id)) {
          const rowId = scalarId(dependant.getEntityIdMixedMap(row));
          out.push(...(await this.cascadedRows(manager, dependant, rowId, depth + 1)));
          out.push({ metadata: dependant, op: 'delete', id: rowId, before: snapshot(dependant, row)! });
        }
      }
    }
    return out;
  }

  afterSoftRemove(event: SoftRemoveEvent<any>): void {
    // A soft-removed row leaves every query, so subscribers see it go.
    this.record(event.queryRunner, this.removed(event));
  }

  afterRecover(event: RecoverEvent<any>): void {
    const after = snapshot(event.metadata, event.databaseEntity ?? event.entity);
    const id = after && event.metadata.getEntityIdMixedMap(event.databaseEntity ?? event.entity);
    if (after && id !== undefined) this.record(event.queryRunner, [{ metadata: event.metadata, op: 'insert', id: scalarId(id), after: { ...after, ...snapshot(event.metadata, event.entity) } }]);
  }

  private removed(event: RemoveEvent<any> | SoftRemoveEvent<any>): RowChange[] {
    const before = snapshot(event.metadata, event.databaseEntity ?? event.entity);
    const id = removedId(event);
    return before && id !== undefined ? [{ metadata: event.metadata, op: 'delete', id, before }] : [];
  }
}

/** `remove()` strips the id from the entity; TypeORM passes it as `entityId` (and on the loaded `databaseEntity`). */
function removedId(event: RemoveEvent<any> | SoftRemoveEvent<any>): string | number | undefined {
  const id = event.entityId ?? (event.databaseEntity ? event.metadata.getEntityIdMixedMap(event.databaseEntity) : undefined);
  return id === undefined ? undefined : scalarId(id);
}

const captures = new WeakMap<DataSource, OrmCapture>();

/** Starts ORM capture on a DataSource; one per DataSource. */
export function startOrmCapture(dataSource: DataSource, entities: unknown[], sink: ChangeSink): OrmCapture {
  if (captures.has(dataSource)) throw new Error('ORM capture is already running on this DataSource');
  const capture = new OrmCapture(dataSource, sink, new Set(entities)).install();
  captures.set(dataSource, capture);
  return capture;
}

export function stopOrmCapture(capture: OrmCapture, dataSource: DataSource): void {
  capture.uninstall();
  if (captures.get(dataSource) === capture) captures.delete(dataSource);
}

export function ormCaptureOf(dataSource: DataSource): OrmCapture | undefined {
  return captures.get(dataSource);
}
