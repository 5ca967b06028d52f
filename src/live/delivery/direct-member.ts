import type { LiveContext } from '../../define/context';
import type { LiveEvent } from '../events';
import type { DirectTarget } from './direct-target';
import { EndingStream } from './ending-stream';

/** What a member asks of the class it is in. */
export interface MemberHost {
  replay(member: DirectMember, event: LiveEvent): void;
  activate(member: DirectMember): void;
  leave(member: DirectMember): void;
}

/**
 * One subscriber in a class, and its own stream (what the subscription
 * field returns): it yields nothing — results go out through `target` — and
 * only ends. `return()` (client complete, socket close) leaves the class; a
 * failure (SLOW_CONSUMER, an execution that failed outright) rejects the
 * pending or next `next()`. Being the stream, and not holding one, keeps a
 * subscriber to one object.
 */
export class DirectMember extends EndingStream<never> {
  /**
   * A resuming member is paused while its missed changes are replayed to it
   * alone; live events reach it once its class activates it.
   */
  paused = false;

  constructor(
    readonly ctx: LiveContext,
    readonly target: DirectTarget,
    /** How many events had reached the class when this member joined (or was resumed): it gets only later ones. */
    public joinedAfter: number,
    private readonly cls: MemberHost,
    private readonly onLeave: () => void,
  ) {
    super();
  }

  get stream(): this {
    return this;
  }

  /** One event for this member alone (a replay), in order with the class's live events. */
  deliver(event: LiveEvent): void {
    this.cls.replay(this, event);
  }

  /** Ends a pause: from now on the member gets the class's live events. */
  activate(): void {
    this.cls.activate(this);
  }

  protected onFinish(): void {
    this.onLeave();
    this.cls.leave(this);
  }
}

