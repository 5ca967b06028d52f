/** How a change looks to the subscriber that receives it. */
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
  /** Where the change sits in the change log, as clients see it (`XChange.cursor`). */
  cursor?: string;
  /**
   * The row itself did not change, a row its read policy looks at did (its
   * list became private): only subscribers for whom the row appears or
   * disappears get an event (CREATED / DELETED), the others nothing.
   */
  transitionOnly?: boolean;
}

/** What a change subscription yields: the `XChange` object. */
export type ChangePayload = Record<string, unknown> & { action: ChangeAction; id: string | number };

/** Where routing puts an event: a topic of the pubsub, or one replaying subscriber. */
export type Publish = (topicName: string, event: LiveEvent) => void;
