import type { LiveContext } from '../define/context';
import type { Cursor } from '../change/cursor';
import type { ResourceModel } from '../model/resource-model';
import { relationPaths, relationReads } from '../policy/evaluate';
import type { Condition } from '../policy/where';
import type { PubSub } from '../pubsub/types';
import { BoundedQueue } from './delivery/bounded-queue';
import { DeliveryClass } from './delivery/delivery-class';
import type { DirectMember } from './delivery/direct-member';
import type { DirectTarget } from './delivery/direct-target';
import type { LiveEvent } from './events';
import type { RelationNeeds } from './relations';
import type { Replayer } from './replay';
import { changeVerdict, eventVerdict, SKIP, type PayloadCache, type Verdict } from './verdict';

export type SubscriptionKind = 'change' | 'event';

export interface SubscribersOptions {
  pubsub: PubSub<LiveEvent>;
  needs: RelationNeeds;
  replayer: Replayer;
  payloads: PayloadCache;
  queueLimit: number;
  bufferBytes: number;
  onError: (error: unknown) => void;
  visibilityKey: (ctx: LiveContext) => string;
}

/**
 * Every live subscriber, and how each is fed. A subscriber is either a
 * queue of its own (SSE, direct graphql-js use: graphql-js executes each
 * item for it) or a member of a delivery class of WebSocket subscribers
 * that share one verdict, one execution and one serialized result per event
 * (./delivery/delivery-class.ts). Either way the relation paths its policy
 * reads are counted while it lasts, and it may start with a replay.
 */
export class Subscribers {
  private readonly queues = new Set<BoundedQueue<unknown>>();
  /** Delivery classes, by topic, kind, visibility and operation. */
  private readonly classes = new Map<string, DeliveryClass>();
  private directMembers = 0;
  private executionCount = 0;

  constructor(private readonly o: SubscribersOptions) {}

  /** Active subscriptions (all transports). */
  get active(): number {
    return this.queues.size + this.directMembers;
  }

  get classCount(): number {
    return this.classes.size;
  }

  get executions(): number {
    return this.executionCount;
  }

  /**
   * Registers a subscriber of one topic with its read policy fixed at
   * subscribe time; returns what the subscription field returns.
   */
  listen(
    model: ResourceModel, kind: SubscriptionKind, topicName: string, ctx: LiveContext, condition: Condition,
    direct: DirectTarget | undefined, after?: Cursor,
  ): AsyncIterableIterator<unknown> {
    const verdict = kind === 'change' ? changeVerdict(model, condition, this.o.payloads) : eventVerdict(model, condition);
    const paths = relationPaths(model.metadata, condition);
    const needs = { paths, reads: relationReads(model.metadata, condition) };
    if (direct) {
      const key = `${topicName}\n${kind}\n${this.o.visibilityKey(ctx)}\n${direct.operationKey}`;
      const member = this.join(model, key, topicName, ctx, needs, verdict, direct, after !== undefined);
      // Its class counts the relation paths the replay needs for as long as the member is in it.
      if (after) {
        this.o.replayer.replay(model, paths, topicName, after, (event) => member.deliver(event), () => member.closed, (error) => {
          if (error === undefined) member.activate();
          else member.fail(error);
        });
      }
      return member;
    }
    let stop: () => void = () => undefined;
    const queue: BoundedQueue<unknown> = new BoundedQueue<unknown>(this.o.queueLimit, () => {
      stop();
      this.queues.delete(queue);
      this.o.needs.count(model, needs, -1);
    }, () => ctx.loaders.clear());
    this.queues.add(queue);
    this.o.needs.count(model, needs, +1);
    const deliver = (event: LiveEvent) => {
      let item: unknown;
      try {
        item = verdict(event);
      } catch (error) {
        // This subscriber's check failed: it alone ends, the others still get the change.
        this.o.onError(error);
        return queue.fail(error);
      }
      if (item !== SKIP) queue.push(item);
    };
    if (!after) stop = this.o.pubsub.subscribe(topicName, deliver);
    else {
      this.o.replayer.replay(model, paths, topicName, after, deliver, () => queue.closed, (error) => {
        if (error !== undefined) queue.fail(error);
        else if (!queue.closed) stop = this.o.pubsub.subscribe(topicName, deliver);
      });
    }
    return queue;
  }

  /**
   * Adds a direct subscriber to the class with this key, creating the class
   * (one pubsub listener, its policy's relation paths counted once) for the
   * first member and removing it with the last.
   */
  private join(model: ResourceModel, key: string, topicName: string, ctx: LiveContext, needs: { paths: string[]; reads: string[] }, verdict: Verdict, direct: DirectTarget, paused: boolean): DirectMember {
    let cls = this.classes.get(key);
    if (!cls) {
      const created = new DeliveryClass({
        verdict,
        render: direct.render,
        limit: this.o.queueLimit,
        bufferBytes: this.o.bufferBytes,
        onExecute: () => void this.executionCount++,
        onError: this.o.onError,
      });
      const stop = this.o.pubsub.subscribe(topicName, created.onEvent);
      this.o.needs.count(model, needs, +1);
      this.classes.set(key, created);
      created.onEmpty = () => {
        stop();
        this.o.needs.count(model, needs, -1);
        if (this.classes.get(key) === created) this.classes.delete(key);
      };
      cls = created;
    }
    this.directMembers++;
    return cls.add(ctx, direct, this.memberLeft, paused);
  }

  /** One function for every direct member: a closure per member would keep `join`'s scope alive with it. */
  private readonly memberLeft = (): void => void this.directMembers--;

  /** Ends every subscription with `error`. */
  failAll(error: unknown): void {
    for (const queue of [...this.queues]) queue.fail(error);
    for (const cls of [...this.classes.values()]) {
      for (const member of [...cls.members]) member.fail(error);
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
