import type {
  DataSource, EntityManager, EntityMetadata, EntitySubscriberInterface, InsertEvent, ObjectLiteral, QueryRunner, RecoverEvent, RemoveEvent,
  SoftRemoveEvent, TransactionCommitEvent, TransactionRollbackEvent, TransactionStartEvent, UpdateEvent,
} from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import { carryDeletedParents } from '../../change/cascade';
import type { RowHistory, RowState } from '../../change/history';
import { NowHistory } from '../../change/now-history';
import { collapse, rowKey, snapshot, type ChangeSink, type RowChange } from '../../change/row-change';
import { compareIds, scalarId } from '../../model/ids';
import { rowsReferencing } from '../../model/relations';

/** What one transaction or savepoint level has recorded so far. */
interface Frame {
  changes: RowChange[];
  deferred: (() => void)[];
  /** The outermost frame once COMMIT is under way: its changes are collapsed and in flight. */
  committing?: boolean;
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
 *
 * It is also the engine's {@link RowHistory}: from the moment a transaction
 * starts to COMMIT until the engine has routed them, its changes are "in
 * flight", and a row with a change in flight is, as of the change being
 * routed, what that change's `before` says — whatever the database already
 * shows. Exact for writes whose before-image is exact (generated mutations
 * lock the row they load; see the README for application writes).
 */
export class OrmCapture implements EntitySubscriberInterface, RowHistory {
  private readonly frames = new WeakMap<QueryRunner, Frame[]>();
  /** Changes committing or committed but not routed yet, by row, in commit order. */
  private readonly inFlight = new Map<string, RowChange[]>();
  private readonly now: NowHistory;
  /** Per runner: rows that ON DELETE CASCADE takes with a row being removed, read before its DELETE. */
  private readonly cascades = new WeakMap<QueryRunner, Map<string, RowChange[]>>();

  constructor(private readonly dataSource: DataSource, private readonly sink: ChangeSink, private readonly entities: Set<unknown>) {
    this.now = new NowHistory(dataSource);
  }

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
    const collapsed = collapse(carryDeletedParents(changes));
    this.fly(collapsed);
    this.sink(collapsed);
  }

  private fly(changes: RowChange[]): void {
    for (const change of changes) {
      const key = rowKey(change.metadata, change.id);
      const list = this.inFlight.get(key);
      if (list) list.push(change);
      else this.inFlight.set(key, [change]);
    }
  }

  private land(change: RowChange): void {
    const key = rowKey(change.metadata, change.id);
    const list = this.inFlight.get(key);
    const i = list ? list.indexOf(change) : -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (!list!.length) this.inFlight.delete(key);
  }

  /**
   * The after-image of the row's change recorded in this transaction,
   * replaced by the row as the database holds it after the write (read back
   * by the caller in the same transaction): columns set by defaults,
   * triggers or the database clock are then exact too.
   */
  amend(queryRunner: QueryRunner | undefined, metadata: EntityMetadata, id: string | number, row: ObjectLiteral): void {
    const stack = queryRunner && queryRunner.isTransactionActive ? this.frames.get(queryRunner) : undefined;
    const key = rowKey(metadata, id);
    for (let f = (stack?.length ?? 0) - 1; f >= 0; f--) {
      const changes = stack![f].changes;
      for (let i = changes.length - 1; i >= 0; i--) {
        if (changes[i].op !== 'delete' && rowKey(changes[i].metadata, changes[i].id) === key) {
          changes[i].after = snapshot(metadata, row);
          return;
        }
      }
    }
  }

  async rowsAsOf(metadata: EntityMetadata, ids: (string | number)[], at: RowChange | undefined): Promise<Map<string, RowState>> {
    const out = await this.now.rowsAsOf(metadata, ids);
    if (!at) return out;
    for (const id of ids) {
      const first = this.firstInFlight(metadata, id, at);
      if (first) out.set(String(id), first.op === 'insert' ? null : { ...first.before });
    }
    return out;
  }

  async dependentsAsOf(dependant: EntityMetadata, relation: RelationMetadata, id: string | number, at: RowChange): Promise<Record<string, unknown>[]> {
    const fk = relation.joinColumns[0].propertyName;
    const pk = dependant.primaryColumns[0].propertyName;
    const out = new Map<string, Record<string, unknown>>();
    for (const row of await this.now.dependentsAsOf(dependant, relation, id)) {
      if (!this.firstInFlight(dependant, row[pk] as string | number, at)) out.set(String(row[pk]), row);
    }
    // Rows with a change in flight: as they were before it, wherever they point now.
    for (const [, list] of this.inFlight) {
      const first = list.find((c) => c !== at);
      if (!first || first.metadata !== dependant || first.op === 'insert' || !first.before) continue;
      if (String(first.before[fk]) === String(id)) out.set(String(first.id), { ...first.before });
    }
    return [...out.values()].sort((a, b) => compareIds(a[pk], b[pk]));
  }

  routed(change: RowChange): void {
    this.land(change);
  }

  /** The first change in flight of the row other than `at` itself (those before `at` have been routed). */
  private firstInFlight(metadata: EntityMetadata, id: string | number, at: RowChange): RowChange | undefined {
    return this.inFlight.get(rowKey(metadata, id))?.find((c) => c !== at);
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

  /** COMMIT is about to be sent: from now on the database may show these changes before the engine has routed them. */
  beforeTransactionCommit(event: TransactionCommitEvent): void {
    const stack = this.frames.get(event.queryRunner);
    if (stack?.length !== 1) return;
    const frame = stack[0];
    frame.changes = collapse(carryDeletedParents(frame.changes));
    frame.committing = true;
    this.fly(frame.changes);
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
    if (frame.changes.length) {
      if (frame.committing) this.sink(frame.changes);
      else this.publish(frame.changes);
    }
    for (const work of frame.deferred) work();
  }

  afterTransactionRollback(event: TransactionRollbackEvent): void {
    const frame = this.frames.get(event.queryRunner)?.pop();
    // A COMMIT that failed: its changes never happened.
    if (frame?.committing) for (const change of frame.changes) this.land(change);
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
