import type { DataSource } from 'typeorm';
import { NowHistory } from '../change/now-history';
import type { ChangeLog } from '../change/change-log';
import type { RowHistory } from '../change/history';
import type { Cursor } from '../change/cursor';
import type { RowChange } from '../change/row-change';
import type { LiveContext } from '../define/context';
import { LiveError, reportBackgroundError } from '../errors';
import type { ModelRegistry } from '../model/registry';
import type { ResourceModel } from '../model/resource-model';
import type { Condition } from '../policy/where';
import { inProcessPubSub } from '../pubsub/in-process';
import type { PubSub } from '../pubsub/types';
import type { DirectTarget } from './delivery/direct-target';
import type { ChangePayload, LiveEvent } from './events';
import { Pipeline } from './pipeline';
import { RelationNeeds } from './relations';
import { Replayer } from './replay';
import { Router } from './router';
import { Subscribers } from './subscribers';
import { PayloadCache } from './verdict';

export interface LiveEngineOptions {
  dataSource: DataSource;
  models: ModelRegistry;
  /** Rows as of the change being routed (the capture's); default: as the database has them now. */
  history?: RowHistory;
  /** How routed events reach subscribers; default in-process. */
  pubsub?: PubSub<LiveEvent>;
  /** Events a queued (SSE, in-process) subscriber may fall behind before it is ended with SLOW_CONSUMER; default 1000. */
  queueLimit?: number;
  /**
   * Bytes a WebSocket may hold unsent (written by the server, not yet taken
   * by the kernel) when an event is due for one of its subscriptions: over
   * it, that subscription ends with SLOW_CONSUMER. Counted in bytes, so a
   * client gains nothing by picking large results. Default 1 MiB.
   */
  bufferBytes?: number;
  /** Resuming with `after`: transactions a cursor may be behind; further back, CURSOR_EXPIRED. Default 10,000. */
  maxReplayTransactions?: number;
  /** Values of one group a row may be in (its first ones); a change then touches a bounded number of topics. Default 100. */
  maxGroupValues?: number;
  /** Errors of the background pipeline; default {@link reportBackgroundError}. */
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

/**
 * The live engine: committed changes in, events to subscribers out.
 * Route (./router.ts) → visible to this subscriber → shaped for it
 * (./verdict.ts), one change at a time in commit order (./pipeline.ts);
 * per event, related rows load once, then every listener of each touched
 * topic gets its verdict synchronously — no query, no await per subscriber
 * (./subscribers.ts, ./delivery/). Resuming replays from a change log
 * (./replay.ts).
 */
export class LiveEngine {
  readonly pubsub: PubSub<LiveEvent>;
  private readonly pipeline: Pipeline;
  private readonly router: Router;
  private readonly history: RowHistory;
  private readonly replayer: Replayer;
  private readonly subscribers: Subscribers;

  constructor(options: LiveEngineOptions) {
    const onError = options.onError ?? reportBackgroundError;
    const needs = new RelationNeeds();
    this.pubsub = options.pubsub ?? inProcessPubSub<LiveEvent>(onError);
    this.pipeline = new Pipeline(onError);
    this.history = options.history ?? new NowHistory(options.dataSource);
    this.router = new Router(options.models, needs, this.history, options.maxGroupValues);
    this.replayer = new Replayer(this.pipeline, this.router, options.maxReplayTransactions);
    this.subscribers = new Subscribers({
      pubsub: this.pubsub,
      needs,
      replayer: this.replayer,
      payloads: new PayloadCache(),
      queueLimit: options.queueLimit ?? 1000,
      bufferBytes: options.bufferBytes ?? 2 ** 20,
      onError,
      visibilityKey: options.visibilityKey ?? ((ctx) => (ctx.user ? `user:${String(ctx.user.id)}` : 'anonymous')),
    });
  }

  /** Active subscriptions (all transports); back to zero when every client has gone. */
  get activeSubscriptions(): number {
    return this.subscribers.active;
  }

  /** Delivery classes: groups of direct subscribers that share one execution per event. */
  get deliveryClasses(): number {
    return this.subscribers.classCount;
  }

  /** Lookups of rows whose visibility follows a changed related row (a list turning private: its tasks) so far. */
  get dependentLookups(): number {
    return this.router.dependentLookups;
  }

  /** Executions of delivery classes so far (one per class and event it delivers). */
  get executions(): number {
    return this.subscribers.executions;
  }

  /**
   * Committed changes from any capture; processed in order, after those
   * before them. Database capture hands over whole transactions.
   */
  ingest(changes: RowChange[]): Promise<void> {
    return this.pipeline.enqueue(changes.map((change) => async () => {
      try {
        await this.router.route(change, this.publish);
      } finally {
        this.history.routed?.(change);
      }
      if (change.cursor) this.replayer.routedThrough(change.cursor);
    }));
  }

  private readonly publish = (topicName: string, event: LiveEvent): void => this.pubsub.publish(topicName, event);

  /** The change log resumed subscriptions replay from (database capture's outbox). */
  useChangeLog(log: ChangeLog): void {
    this.replayer.use(log);
  }

  /** Checks a client's `after` before it subscribes (BAD_USER_INPUT, CURSOR_EXPIRED); see {@link Replayer.cursor}. */
  resumeCursor(after: string): Promise<Cursor> {
    return this.replayer.cursor(after);
  }

  /**
   * Changes may have been missed (the transport between processes lost
   * some): every subscription ends with CHANGES_LOST, since none can say it
   * still shows what the database holds. Clients refetch and subscribe again.
   */
  loseChanges(reason: string): void {
    this.subscribers.failAll(new LiveError('CHANGES_LOST', `Changes may have been missed (${reason}): refetch, then subscribe again`));
  }

  /** Resolves when every change ingested so far has been routed. */
  idle(): Promise<void> {
    return this.pipeline.idle();
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
    return this.subscribers.listen(model, 'change', topicName, ctx, condition, direct, after) as AsyncIterableIterator<ChangePayload>;
  }

  /** A subscriber of a custom event: gets the payload when it may see the row the event is about. `direct` as for {@link subscribe}. */
  subscribeEvent(model: ResourceModel, topicName: string, ctx: LiveContext, condition: Condition, direct?: DirectTarget): AsyncIterableIterator<unknown> {
    return this.subscribers.listen(model, 'event', topicName, ctx, condition, direct);
  }

  /**
   * Publishes a custom event about `row` (DCRF's `@observer`) to the groups
   * the row is in, after changes ingested before it; subscribers whose read
   * policy hides the row do not get it.
   */
  publishEvent(model: ResourceModel, name: string, payload: unknown, row: Record<string, unknown>): Promise<void> {
    return this.pipeline.enqueue([() => this.router.routeEvent(model, name, payload, row, this.publish)]);
  }

  /** Ends every subscription (server shutdown). */
  close(): void {
    this.subscribers.close();
  }
}
