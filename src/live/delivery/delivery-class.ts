import type { LiveContext } from '../../define/context';
import type { LiveEvent } from '../events';
import { SKIP, type Verdict } from '../verdict';
import { slowConnection, slowConsumer } from './bounded-queue';
import { DirectMember, type MemberHost } from './direct-member';
import type { DirectTarget } from './direct-target';

export interface DeliveryClassOptions {
  verdict: Verdict;
  render: DirectTarget['render'];
  /** Events the class may hold behind an unfinished execution (three times this). */
  limit: number;
  /** Bytes a member's connection may hold unsent when an event is due for it. */
  bufferBytes: number;
  /** Counts executions (tests and diagnostics). */
  onExecute: () => void;
  /** Errors of an execution that failed outright (not a GraphQL error in the result). */
  onError: (error: unknown) => void;
}

/**
 * Subscribers of one topic with the same operation and visibility. Events
 * are delivered in the order they arrive. An execution that finishes at
 * once (no relation to load) is sent at once; one that awaits (DataLoader)
 * holds the events behind it, up to `limit`, so a later event's bytes never
 * overtake an earlier one's.
 */
export class DeliveryClass implements MemberHost {
  readonly members = new Set<DirectMember>();
  /** Called when the last member has left (the engine drops the class and its topic listener). */
  onEmpty: () => void = () => undefined;
  /** Behind an unfinished execution: root, target member (undefined = all), arrival number, root, … */
  private held: unknown[] = [];
  private busy = false;
  /** Events that reached the class so far; numbers them so a later member skips those before it. */
  private arrivals = 0;

  constructor(private readonly options: DeliveryClassOptions) {}

  /** Adds a subscriber (paused: see {@link DirectMember.paused}); `onLeave` runs once when it ends, however it ends. */
  add(ctx: LiveContext, target: DirectTarget, onLeave: () => void, paused = false): DirectMember {
    const member = new DirectMember(ctx, target, this.arrivals, this, onLeave);
    member.paused = paused;
    this.members.add(member);
    target.joined?.(member);
    return member;
  }

  /** A member has ended (see {@link DirectMember.stream}); the last one empties the class. */
  leave(member: DirectMember): void {
    if (this.members.delete(member) && this.members.size === 0) this.onEmpty();
  }

  /**
   * A paused member goes live: it gets the events that reach the class from
   * now on (those before were in its replay). Moved to the end, as members
   * are kept in the order of `joinedAfter`.
   */
  activate(member: DirectMember): void {
    if (!this.members.has(member) || !member.paused) return;
    this.members.delete(member);
    member.joinedAfter = this.arrivals;
    member.paused = false;
    this.members.add(member);
  }

  /** The pubsub listener of the class's topic. */
  readonly onEvent = (event: LiveEvent): void => {
    let root: unknown;
    try {
      root = this.options.verdict(event);
    } catch (error) {
      // This class's check failed (a policy that cannot be evaluated in memory): it alone ends.
      return this.failAll(error);
    }
    if (root !== SKIP) this.deliver(root, undefined);
  };

  /**
   * One event for one member only (a replay), through the same verdict,
   * execution and serialization as live events, and in order with them.
   */
  replay(member: DirectMember, event: LiveEvent): void {
    let root: unknown;
    try {
      root = this.options.verdict(event);
    } catch (error) {
      this.options.onError(error);
      return member.fail(error);
    }
    if (root !== SKIP) this.deliver(root, member);
  }

  private deliver(root: unknown, only: DirectMember | undefined): void {
    const arrival = ++this.arrivals;
    if (!this.busy) return this.run(root, only, arrival);
    if (this.held.length >= 3 * this.options.limit) return this.overflow();
    this.held.push(root, only, arrival);
  }

  private run(root: unknown, only: DirectMember | undefined, arrival: number): void {
    const representative = only ?? firstActive(this.members);
    if (!representative) return;
    // Rows are loaded afresh for every event, as each subscriber's own execution did.
    representative.ctx.loaders.clear();
    this.options.onExecute();
    let json: string | Promise<string>;
    try {
      json = this.options.render(root, representative.ctx);
    } catch (error) {
      return this.failAll(error);
    }
    if (typeof json === 'string') return this.send(json, only, arrival);
    this.busy = true;
    json.then((bytes) => this.send(bytes, only, arrival), (error) => this.failAll(error)).catch(this.options.onError).then(() => this.resume());
  }

  private resume(): void {
    this.busy = false;
    const held = this.held;
    let i = 0;
    while (!this.busy && i < held.length) {
      const root = held[i];
      const only = held[i + 1] as DirectMember | undefined;
      const arrival = held[i + 2] as number;
      i += 3;
      this.run(root, only, arrival);
    }
    // Whatever arrived while this loop ran was appended behind what it had not reached yet.
    this.held = i === held.length ? [] : held.slice(i);
  }

  private send(text: string, only: DirectMember | undefined, arrival: number): void {
    const json = Buffer.from(text);
    if (only) return this.sendTo(only, json);
    for (const member of this.members) {
      if (member.paused) continue;
      // Members are in joining order: the rest joined after this event was published (while it was executing).
      if (member.joinedAfter >= arrival) break;
      this.sendTo(member, json);
    }
  }

  private sendTo(member: DirectMember, json: Buffer): void {
    if (!this.members.has(member)) return;
    if (member.target.unflushedBytes > this.options.bufferBytes) {
      member.fail(slowConnection(this.options.bufferBytes));
      return;
    }
    member.target.send(json);
  }

  /** Executions are slower than events arrive: every member is behind, as its own queue would have overflowed. */
  private overflow(): void {
    this.held = [];
    for (const member of [...this.members]) member.fail(slowConsumer(this.options.limit));
  }

  private failAll(error: unknown): void {
    this.options.onError(error);
    for (const member of [...this.members]) member.fail(error);
  }
}

function firstActive(members: Set<DirectMember>): DirectMember | undefined {
  for (const member of members) if (!member.paused) return member;
  return undefined;
}
