import type { DataSource, EntityMetadata } from 'typeorm';
import type { LiveContext } from '../define/context';
import { rowKey, snapshot, type RowChange } from '../capture/row-change';
import { afterTransaction, parseCursor, type Cursor, type OutboxReader } from '../capture/outbox';
import { BadUserInputError } from '../errors';
import type { ResourceModel } from '../schema/model';
import { matches, relationPaths, sameValue } from '../policy/evaluate';
import type { Condition } from '../policy/where';
import type { PubSub } from '../pubsub/types';
import { inProcessPubSub } from '../pubsub/in-process';
import { BoundedQueue } from './queue';
import { DeliveryClass, DirectMember, SKIP, type DirectTarget, type Verdict } from './delivery';
import { groupValues, topic } from './topics';

export type ChangeAction = 'CREATED' | 'UPDATED' | 'DELETED';

/**
 * What a topic carries: the row as it was and is *with respect to that
 * topic* (`before` is null when the row was not in the group), with the
 * relations the active subscribers' policies read already loaded — once per
 * event, shared by every subscriber.
 */
export interface LiveEvent {
  type: string;
  id: string | number;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  /** Custom events only: what `publishEvent` was given. */
  payload?: unknown;
  /** Database capture: the change's place in the outbox (`XChange.cursor`). */
  cursor?: string;
  /**
   * The row itself did not change, a row its read policy looks at did (its
   * list became private): only subscribers for whom the row appears or
   * disappears get an event (CREATED / DELETED), the others nothing.
   */
  transitionOnly?: boolean;
}

/** What a subscription yields to graphql-ws: the `XChange` object. */
export type ChangePayload = Record<string, unknown> & { action: ChangeAction; id: string | number };

export interface LiveEngineOptions {
  dataSource: DataSource;
  models: ResourceModel[];
  pubsub?: PubSub<LiveEvent>;
  /** Events a subscriber may fall behind before it is ended; default 1000. */
  queueLimit?: number;
  /** Called with errors of the background pipeline (default console.error). */
  onError?: (error: unknown) => void;
  /**
   * Which subscribers see the same thing. WebSocket subscribers of one topic
   * with the same document, operation name, variables and visibility key
   * share one execution and one serialized result per event, computed with
   * one of their contexts. Row policies, field rules and permissions must
   * therefore give the same answers for every context with the same key.
   * The default, the caller's `user.id` (or anonymous), holds as long as
   * they look only at `ctx.user`'s identity; if yours read anything else
   * from the context (roles that change without a new id, request headers,
   * connection parameters), return a key that includes it.
   *
   * @default (ctx) => ctx.user ? `user:${ctx.user.id}` : 'anonymous'
   */
  visibilityKey?: (ctx: LiveContext) => string;
}

type SubscriptionKind = 'change' | 'event';

/** A registered subscriber: what its subscription field returns, and the path one event takes to it alone. */
interface Subscriber {
  stream: AsyncIterableIterator<unknown>;
  /** Verdict, then the subscriber's queue or its class's execution: for replaying an event to this subscriber only. */
  deliver(event: LiveEvent): void;
}

/**
 * Route → visible to this subscriber → shape for this subscriber. Changes are
 * processed one at a time in commit order; per event, relation loads happen
 * once, then every listener of each touched topic gets its verdict
 * synchronously (no query, no await per subscriber). A listener is a
 * subscriber with its own queue (SSE, direct graphql-js use) or a delivery
 * class of WebSocket subscribers that share one verdict, one execution and
 * one serialized result (see ./delivery.ts).
 */
export class LiveEngine {
  readonly pubsub: PubSub<LiveEvent>;
  private readonly byMetadata: Map<unknown, ResourceModel>;
  private readonly queues = new Set<BoundedQueue<unknown>>();
  /** Delivery classes of direct (WebSocket) subscribers, by topic, kind, visibility and operation. */
  private readonly classes = new Map<string, DeliveryClass>();
  private directMembers = 0;
  private executionCount = 0;
  /**
   * The `XChange` objects of an event, one per action, built by the first
   * subscriber that needs each and shared by the rest (read-only for them).
   */
  private readonly payloads = new WeakMap<LiveEvent, Partial<Record<ChangeAction, ChangePayload>>>();
  /** Relation paths the active subscribers of each type need, counted. */
  private readonly pathUse = new Map<string, Map<string, number>>();
  private pipeline: Promise<void> = Promise.resolve();
  private log: OutboxReader | undefined;
  /** The outbox position of the last transaction routed (database capture). */
  private routedPosition: bigint | undefined;
  private readonly queueLimit: number;
  private readonly onError: (error: unknown) => void;
  private readonly visibilityKey: (ctx: LiveContext) => string;

  constructor(private readonly options: LiveEngineOptions) {
    this.pubsub = options.pubsub ?? inProcessPubSub<LiveEvent>();
    this.byMetadata = new Map(options.models.map((m) => [m.metadata.target, m]));
    this.queueLimit = options.queueLimit ?? 1000;
    this.onError = options.onError ?? ((error) => console.error('typeorm-graphql-live: change delivery failed', error));
    this.visibilityKey = options.visibilityKey ?? ((ctx) => (ctx.user ? `user:${String(ctx.user.id)}` : 'anonymous'));
  }

  /** Active subscriptions (all transports); back to zero when every client has gone. */
  get activeSubscriptions(): number {
    return this.queues.size + this.directMembers;
  }

  /** Delivery classes: groups of direct subscribers that share one execution per event. */
  get deliveryClasses(): number {
    return this.classes.size;
  }

  /** Executions of delivery classes so far (one per class and event it delivers). */
  get executions(): number {
    return this.executionCount;
  }

  /**
   * Committed changes from any capture; processed in order, after those
   * before them. Database capture hands over whole transactions.
   */
  ingest(changes: RowChange[]): Promise<void> {
    return this.enqueue(changes.map((change) => async () => {
      await this.route(change, this.publish);
      if (change.cursor) this.routedPosition = parseCursor(change.cursor).position;
    }));
  }

  private readonly publish = (topicName: string, event: LiveEvent): void => this.pubsub.publish(topicName, event);

  /** The change log resumed subscriptions replay from (database capture's outbox). */
  useChangeLog(log: OutboxReader): void {
    this.log = log;
  }

  /**
   * Checks a client's `after` before it subscribes: BAD_USER_INPUT when it is
   * malformed or changes are not logged (ORM capture), CURSOR_EXPIRED when
   * the outbox no longer has what follows it.
   */
  async resumeCursor(after: string): Promise<Cursor> {
    if (!this.log) throw new BadUserInputError('Resuming with `after` needs database capture (LIVE_CAPTURE=database)', { field: 'after' });
    const cursor = parseCursor(after);
    await this.log.checkCursor(cursor);
    return cursor;
  }

  /** Runs work items one after another behind everything queued before; a failing item is reported, not fatal. */
  private enqueue(work: (() => Promise<void>)[]): Promise<void> {
    this.pipeline = this.pipeline.then(async () => {
      for (const item of work) {
        try {
          await item();
        } catch (error) {
          this.onError(error);
        }
      }
    });
    return this.pipeline;
  }

  /** Resolves when every change ingested so far has been routed. */
  idle(): Promise<void> {
    return this.pipeline;
  }

  /** Publishes a change (and the transitions it causes) to topics through `publish`: the pubsub, or one replaying subscriber. */
  private async route(change: RowChange, publish: Publish): Promise<void> {
    const model = this.byMetadata.get(change.metadata.target);
    if (!model) return;
    const before = change.op === 'insert' ? null : { ...change.before };
    const after = change.op === 'delete' ? null : { ...change.after };
    await this.loadRelations(model, [before, after]);
    this.publishChange(publish, model, change.id, before, after, false, change.cursor);
    if (change.op === 'update') await this.routeDependents(change, publish);
  }

  /** The instance topic gets the change itself; each group topic the row as it was and is in that group. */
  private publishChange(
    publish: Publish, model: ResourceModel, id: string | number,
    before: Record<string, unknown> | null, after: Record<string, unknown> | null, transitionOnly: boolean, cursor: string | undefined,
  ): void {
    const type = model.names.type;
    const extra = { ...(transitionOnly ? { transitionOnly } : {}), ...(cursor ? { cursor } : {}) };
    publish(topic.instance(type, id), { type, id, before, after, ...extra });
    for (const [group, value, wasIn, isIn] of groupMoves(model, before, after)) {
      publish(topic.group(type, group, value), { type, id, before: wasIn ? before : null, after: isIn ? after : null, ...extra });
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
   * with such a policy exist. (First relation level only.)
   */
  private async routeDependents(change: RowChange, publish: Publish): Promise<void> {
    const { before: was, after: is } = change;
    if (!was || !is || !Object.keys({ ...was, ...is }).some((k) => !sameValue(was[k], is[k]))) return;
    for (const model of this.options.models) {
      const relations = new Set([...(this.pathUse.get(model.names.type)?.keys() ?? [])].map((p) => p.split('.')[0]));
      for (const name of relations) {
        const relation = model.metadata.relations.find((r) => r.propertyName === name);
        if (!relation || relation.inverseEntityMetadata.target !== change.metadata.target || !relation.joinColumns.length) continue;
        const pk = relation.inverseEntityMetadata.primaryColumns[0].propertyName;
        const rows = await this.options.dataSource.manager.find(model.metadata.target, {
          where: { [name]: { [pk]: change.id } } as Record<string, any>,
          order: { [model.primary.propertyName]: 'ASC' } as Record<string, any>,
        });
        const pairs = rows.map((row) => {
          const plain = snapshot(model.metadata, row)!;
          return { id: plain[model.primary.propertyName] as string | number, before: { ...plain, [name]: { ...was } }, after: { ...plain, [name]: { ...is } } };
        });
        await this.loadRelations(model, pairs.flatMap((p) => [p.before, p.after]));
        for (const p of pairs) this.publishChange(publish, model, p.id, p.before, p.after, true, change.cursor);
      }
    }
  }

  /** Loads, once per event, the related rows that active subscribers' policies read. */
  private async loadRelations(model: ResourceModel, rows: (Record<string, unknown> | null)[]): Promise<void> {
    const use = this.pathUse.get(model.names.type);
    if (!use?.size) return;
    // Walking `list.owner` loads `list` on the way, so path order does not matter.
    const paths = [...use.keys()];
    const manager = this.options.dataSource.manager;
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

  /**
   * A subscriber of one topic with the caller's read policy fixed at
   * subscribe time. Each event becomes CREATED / UPDATED / DELETED relative
   * to what this subscriber could see before and after, or nothing.
   *
   * Without `direct`, the stream yields the `XChange` objects. With a
   * transport's {@link DirectTarget}, the subscriber joins the delivery
   * class of its operation and visibility, results go out through the
   * target, and the stream yields nothing: it only ends.
   */
  subscribe(model: ResourceModel, topicName: string, ctx: LiveContext, condition: Condition, direct?: DirectTarget, after?: Cursor): AsyncIterableIterator<ChangePayload> {
    return this.listen(model, 'change', topicName, ctx, condition, direct, after).stream as AsyncIterableIterator<ChangePayload>;
  }

  /** Per event, what a change subscriber with `condition` gets: the `XChange` of its action, or SKIP. */
  private changeVerdict(model: ResourceModel, condition: Condition): Verdict {
    const rowField = model.names.camel;
    const metadata = model.metadata;
    return (event) => {
      const was = event.before !== null && matches(metadata, condition, event.before);
      const is = event.after !== null && matches(metadata, condition, event.after);
      if (!was && !is) return SKIP;
      if (event.transitionOnly && was === is) return SKIP;
      return this.payloadOf(event, was && is ? 'UPDATED' : is ? 'CREATED' : 'DELETED', rowField);
    };
  }

  private payloadOf(event: LiveEvent, action: ChangeAction, rowField: string): ChangePayload {
    let byAction = this.payloads.get(event);
    if (!byAction) this.payloads.set(event, (byAction = {}));
    return (byAction[action] ??= { action, id: event.id, [rowField]: action === 'DELETED' ? null : event.after, cursor: event.cursor ?? null });
  }

  /** A subscriber of a custom event: gets the payload when it may see the row the event is about. `direct` as for {@link subscribe}. */
  subscribeEvent(model: ResourceModel, topicName: string, ctx: LiveContext, condition: Condition, direct?: DirectTarget): AsyncIterableIterator<unknown> {
    return this.listen(model, 'event', topicName, ctx, condition, direct).stream;
  }

  /** Per event, what a custom-event subscriber with `condition` gets: the payload when it may see the row, or SKIP. */
  private eventVerdict(model: ResourceModel, condition: Condition): Verdict {
    return (event) => (event.after !== null && matches(model.metadata, condition, event.after) ? event.payload : SKIP);
  }

  /**
   * Publishes a custom event about `row` (DCRF's `@observer`) to the groups
   * the row is in, after changes ingested before it; subscribers whose read
   * policy hides the row do not get it.
   */
  publishEvent(model: ResourceModel, name: string, payload: unknown, row: Record<string, unknown>): Promise<void> {
    return this.enqueue([async () => {
      const type = model.names.type;
      const after: Record<string, unknown> = { ...row };
      await this.loadRelations(model, [after]);
      const id = row[model.primary.propertyName] as string | number;
      for (const [group, value] of groupMoves(model, null, row)) {
        this.pubsub.publish(topic.event(type, name, group, value), { type, id, before: null, after, payload });
      }
    }]);
  }

  /**
   * Registers a subscriber: a queue of its own (graphql-js executes each
   * item for it), or a member of a delivery class. Either way its
   * `deliver(event)` takes an event to this subscriber alone (for replays)
   * the way live events take.
   */
  private listen(
    model: ResourceModel,
    kind: SubscriptionKind,
    topicName: string,
    ctx: LiveContext,
    condition: Condition,
    direct: DirectTarget | undefined,
    after?: Cursor,
  ): Subscriber {
    const verdict = kind === 'change' ? this.changeVerdict(model, condition) : this.eventVerdict(model, condition);
    const paths = relationPaths(model.metadata, condition);
    if (direct) {
      const member = this.join(model, `${topicName}\n${kind}\n${this.visibilityKey(ctx)}\n${direct.operationKey}`, topicName, ctx, paths, verdict, direct, after !== undefined);
      // Its class counts the relation paths the replay needs for as long as the member is in it.
      if (after) {
        this.replay(model, paths, topicName, after, (event) => member.deliver(event), () => member.closed, (error) => {
          if (error === undefined) member.activate();
          else member.fail(error);
        });
      }
      return member;
    }
    let stop: () => void = () => undefined;
    const queue: BoundedQueue<unknown> = new BoundedQueue<unknown>(this.queueLimit, () => {
      stop();
      this.queues.delete(queue);
      this.usePaths(model, paths, -1);
    }, () => ctx.loaders.clear());
    this.queues.add(queue);
    this.usePaths(model, paths, +1);
    const deliver = (event: LiveEvent) => {
      const item = verdict(event);
      if (item !== SKIP) queue.push(item);
    };
    if (!after) stop = this.pubsub.subscribe(topicName, deliver);
    else {
      this.replay(model, paths, topicName, after, deliver, () => queue.closed, (error) => {
        if (error !== undefined) queue.fail(error);
        else if (!queue.closed) stop = this.pubsub.subscribe(topicName, deliver);
      });
    }
    return { stream: queue, deliver };
  }

  /**
   * A resuming subscriber's catch-up, run in the pipeline so no change is
   * routed meanwhile: the outbox's transactions after `after`, up to the
   * last one routed live, routed again for this subscriber alone (with the
   * permissions and related rows of now), then `done()` — after which it
   * receives live events, which all come later. No gap, no duplicate.
   */
  private replay(
    model: ResourceModel, paths: string[], topicName: string, after: Cursor,
    deliver: (event: LiveEvent) => void, ended: () => boolean, done: (error?: unknown) => void,
  ): void {
    const log = this.log!;
    // The changes that can reach this topic: its own table's, and those of rows its policy reads.
    const tables = new Set([model.metadata, ...paths.map((p) => model.metadata.relations.find((r) => r.propertyName === p.split('.')[0])?.inverseEntityMetadata)]
      .filter((m): m is EntityMetadata => m !== undefined));
    const only: Publish = (name, event) => {
      if (name === topicName) deliver(event);
    };
    void this.enqueue([async () => {
      try {
        const upto = this.routedPosition ?? log.position.position;
        let from = after;
        while (!ended()) {
          const batch = await log.readTransactions(from, upto, 100, tables);
          if (!batch.length) break;
          for (const { position, changes } of batch) {
            for (const change of changes) await this.route(change, only);
            from = afterTransaction(position);
          }
        }
        done();
      } catch (error) {
        done(error);
      }
    }]);
  }

  /**
   * Adds a direct subscriber to the class with this key, creating the class
   * (one pubsub listener, its policy's relation paths counted once) for the
   * first member and removing it with the last.
   */
  private join(model: ResourceModel, key: string, topicName: string, ctx: LiveContext, paths: string[], verdict: Verdict, direct: DirectTarget, paused: boolean): DirectMember {
    let cls = this.classes.get(key);
    if (!cls) {
      const created = new DeliveryClass({
        verdict,
        render: direct.render,
        limit: this.queueLimit,
        onExecute: () => void this.executionCount++,
        onError: this.onError,
      });
      const stop = this.pubsub.subscribe(topicName, created.onEvent);
      this.usePaths(model, paths, +1);
      this.classes.set(key, created);
      created.onEmpty = () => {
        stop();
        this.usePaths(model, paths, -1);
        if (this.classes.get(key) === created) this.classes.delete(key);
      };
      cls = created;
    }
    this.directMembers++;
    return cls.add(ctx, direct, this.memberLeft, paused);
  }

  /** One function for every direct member: a closure per member would keep `join`'s scope alive with it. */
  private readonly memberLeft = (): void => void this.directMembers--;

  private usePaths(model: ResourceModel, paths: string[], delta: number): void {
    let use = this.pathUse.get(model.names.type);
    if (!use) this.pathUse.set(model.names.type, (use = new Map()));
    for (const path of paths) {
      const n = (use.get(path) ?? 0) + delta;
      if (n > 0) use.set(path, n);
      else use.delete(path);
    }
  }

  /** Ends every subscription (server shutdown). */
  close(): void {
    for (const queue of [...this.queues]) void queue.return();
    for (const cls of [...this.classes.values()]) {
      for (const member of [...cls.members]) void member.return();
    }
  }
}

/** Where routing puts an event: a topic of the pubsub, or a replaying subscriber. */
type Publish = (topicName: string, event: LiveEvent) => void;

function isLoaded(value: unknown): boolean {
  return value !== null && value !== undefined && typeof value === 'object';
}

/** Per group value the row is in before or after: `[group, value, wasIn, isIn]`. */
function* groupMoves(
  model: ResourceModel,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): Generator<[string, string, boolean, boolean]> {
  for (const [group, fn] of Object.entries(model.options.groups ?? {})) {
    const was = before ? groupValues(fn(before)) : [];
    const is = after ? groupValues(fn(after)) : [];
    for (const value of new Set([...was, ...is])) yield [group, value, was.includes(value), is.includes(value)];
  }
}
