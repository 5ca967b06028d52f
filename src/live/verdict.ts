import type { ResourceModel } from '../model/resource-model';
import { matches } from '../policy/evaluate';
import type { Condition } from '../policy/where';
import type { ChangeAction, ChangePayload, LiveEvent } from './events';

/** What a verdict returns when the event is not for this subscriber (or class). */
export const SKIP: unique symbol = Symbol('typeorm-graphql-live.skip');

/** Per event: what the subscription field resolves to (the `XChange`, a custom payload), or SKIP. */
export type Verdict = (event: LiveEvent) => unknown;

/**
 * The `XChange` objects of an event, one per action, built by the first
 * subscriber that needs each and shared by the rest (read-only for them).
 */
export class PayloadCache {
  private readonly payloads = new WeakMap<LiveEvent, Partial<Record<ChangeAction, ChangePayload>>>();

  of(event: LiveEvent, action: ChangeAction, rowField: string): ChangePayload {
    let byAction = this.payloads.get(event);
    if (!byAction) this.payloads.set(event, (byAction = {}));
    return (byAction[action] ??= { action, id: event.id, [rowField]: action === 'DELETED' ? null : event.after, cursor: event.cursor ?? null });
  }
}

/**
 * Visible → shaped, for a change subscriber whose read policy is
 * `condition`: CREATED / UPDATED / DELETED relative to what it could see
 * before and after, or SKIP. In memory: no query per subscriber.
 */
export function changeVerdict(model: ResourceModel, condition: Condition, payloads: PayloadCache): Verdict {
  const rowField = model.names.camel;
  const metadata = model.metadata;
  return (event) => {
    const was = event.before !== null && matches(metadata, condition, event.before);
    const is = event.after !== null && matches(metadata, condition, event.after);
    if (!was && !is) return SKIP;
    if (event.transitionOnly && was === is) return SKIP;
    return payloads.of(event, was && is ? 'UPDATED' : is ? 'CREATED' : 'DELETED', rowField);
  };
}

/** A custom-event subscriber gets the payload when it may see the row the event is about. */
export function eventVerdict(model: ResourceModel, condition: Condition): Verdict {
  return (event) => (event.after !== null && matches(model.metadata, condition, event.after) ? event.payload : SKIP);
}
