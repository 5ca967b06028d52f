import type { LiveContext } from '../define/context';
import { BadUserInputError, NotFoundError, UnauthenticatedError } from '../errors';
import { parseId } from '../model/ids';
import { names } from '../model/names';
import type { ModelRegistry } from '../model/registry';
import { assertPermission, conditionFor, refusal } from '../policy/access';
import { loadVisible } from '../policy/visible';
import { directTargetOf } from './delivery/direct-target';
import type { EndingStream } from './delivery/ending-stream';
import type { LiveEngine } from './engine';
import { topic } from './topics';

/**
 * `taskInstanceChanged(id)`, `taskGroupChanged(group)` and custom events:
 * checks at subscribe time (permission, and that the caller may see the
 * instance or the group's related row at all — the same retrieve as a
 * query), then the engine's stream: the subscriber's own queue, or — when
 * the transport offered a direct target in `rootValue` (WebSocket) —
 * membership in a shared delivery class.
 */
export function subscriptionResolvers(models: ModelRegistry, engine: LiveEngine): Record<string, any> {
  const fields: Record<string, any> = {};
  const passThrough = (payload: unknown) => payload;
  /** `after:` checked once the caller may subscribe at all (BAD_USER_INPUT, CURSOR_EXPIRED). */
  const resumeFrom = (after: string | null | undefined) => (after === undefined || after === null ? undefined : engine.resumeCursor(after));
  for (const m of models.all) {
    const type = m.names.type;
    fields[names.instanceSubscription(m.names)] = {
      subscribe: async (root: unknown, args: { id: string; after?: string | null }, ctx: LiveContext) => {
        const id = parseId(m, args.id);
        await assertPermission(m, 'retrieve', ctx, args, `${type}:${id}`);
        if (!(await loadVisible(m, id, ctx))) {
          // Resuming, the row may have left the caller's sight meanwhile: what it shows of it is stale.
          throw new NotFoundError(`${type}:${id} not found`, args.after ? { clear: true } : {});
        }
        const after = await resumeFrom(args.after);
        return untilExpiry(engine.subscribe(m, topic.instance(type, id), ctx, conditionFor(m, 'retrieve', ctx), directTargetOf(root), after), ctx, root);
      },
      resolve: passThrough,
    };
    const groups = m.options.groups ?? {};
    if (!Object.keys(groups).length) continue;
    const groupSubscribe = (event?: string) => async (root: unknown, args: { group: Record<string, string>; after?: string | null }, ctx: LiveContext) => {
      const entries = Object.entries(args.group ?? {}).filter(([, v]) => v !== null && v !== undefined);
      if (entries.length !== 1) throw new BadUserInputError(`${names.groupInput(m.names)} takes exactly one group`);
      const [group, value] = entries[0];
      const what = `subscribe to ${type} group ${group}=${value}`;
      await assertPermission(m, 'list', ctx, args, `${type} group ${group}=${value}`);
      // A group named after a many-to-one relation is that related row: the caller must be able to see it.
      const field = m.byName.get(group);
      if (field?.relation) {
        const target = models.targetOf(field);
        if (!(await loadVisible(target, parseId(target, value), ctx))) {
          // Resuming, the group may have left the caller's sight meanwhile: what it shows of it is stale.
          throw refusal(ctx, what, args.after ? { clear: true } : {});
        }
      }
      const condition = conditionFor(m, 'list', ctx);
      if (event) return untilExpiry(engine.subscribeEvent(m, topic.event(type, event, group, value), ctx, condition, directTargetOf(root)), ctx, root);
      const after = await resumeFrom(args.after);
      return untilExpiry(engine.subscribe(m, topic.group(type, group, value), ctx, condition, directTargetOf(root), after), ctx, root);
    };
    fields[names.groupSubscription(m.names)] = { subscribe: groupSubscribe(), resolve: passThrough };
    for (const name of Object.keys(m.options.events ?? {})) fields[name] = { subscribe: groupSubscribe(name), resolve: passThrough };
  }
  return { Subscription: fields };
}

/**
 * A subscription whose caller's credential expires — or is revoked, when
 * the server revalidates — ends then with UNAUTHENTICATED (SSE, direct
 * graphql-js use). WebSocket subscriptions are ended with their
 * connection, by the transport.
 */
function untilExpiry<T extends AsyncIterableIterator<unknown>>(stream: T, ctx: LiveContext, root: unknown): T {
  if (directTargetOf(root)) return stream;
  const ending = stream as unknown as EndingStream<unknown>;
  if (ctx.watchCredential) {
    ctx.watchCredential({
      get closed() {
        return ending.closed;
      },
      revoke: () => ending.fail(new UnauthenticatedError('The credential was revoked: sign in again')),
    });
  }
  if (ctx.expiresAt === undefined) return stream;
  const timer = setTimeout(() => {
    ending.fail(new UnauthenticatedError('The token expired: subscribe again with a new one'));
  }, Math.min(Math.max(ctx.expiresAt - Date.now(), 0), 2_147_483_647));
  timer.unref();
  return stream;
}
