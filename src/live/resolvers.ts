import type { LiveContext } from '../define/context';
import { ForbiddenError, NotFoundError, BadUserInputError } from '../errors';
import { assertPermission, conditionFor } from '../crud/access';
import { parseId } from '../crud/input';
import { loaderFor } from '../crud/read';
import type { ResourceModel } from '../schema/model';
import { names } from '../schema/names';
import { directTargetOf } from './delivery';
import type { LiveEngine } from './engine';
import { topic } from './topics';

/**
 * `taskInstanceChanged(id)` and `taskGroupChanged(group)`: checks at
 * subscribe time (permission, and that the caller may see the instance or
 * the group's related row at all), then the engine's stream: the
 * subscriber's own queue, or — when the transport offered a direct target
 * in `rootValue` (WebSocket) — membership in a shared delivery class.
 */
export function subscriptionResolvers(models: ResourceModel[], engine: LiveEngine): Record<string, any> {
  const byTarget = new Map<unknown, ResourceModel>(models.map((m) => [m.metadata.target, m]));
  const fields: Record<string, any> = {};
  const passThrough = (payload: unknown) => payload;
  /** `after:` checked once the caller may subscribe at all (BAD_USER_INPUT, CURSOR_EXPIRED). */
  const resumeFrom = (after: string | null | undefined) => (after === undefined || after === null ? undefined : engine.resumeCursor(after));
  for (const m of models) {
    const type = m.names.type;
    fields[names.instanceSubscription(m.names)] = {
      subscribe: async (root: unknown, args: { id: string; after?: string | null }, ctx: LiveContext) => {
        const id = parseId(m, args.id);
        await assertPermission(m, 'retrieve', ctx, args, `${type}:${id}`);
        const row = await loaderFor(m, ctx).load(id);
        ctx.loaders.clear();
        if (!row) throw new NotFoundError(`${type}:${id} not found`);
        const after = await resumeFrom(args.after);
        return engine.subscribe(m, topic.instance(type, id), ctx, conditionFor(m, 'retrieve', ctx), directTargetOf(root), after);
      },
      resolve: passThrough,
    };
    const groups = m.options.groups ?? {};
    if (!Object.keys(groups).length) continue;
    const groupSubscribe = (event?: string) => async (root: unknown, args: { group: Record<string, string>; after?: string | null }, ctx: LiveContext) => {
        const entries = Object.entries(args.group ?? {}).filter(([, v]) => v !== null && v !== undefined);
        if (entries.length !== 1) throw new BadUserInputError(`${names.groupInput(m.names)} takes exactly one group`);
        const [group, value] = entries[0];
        await assertPermission(m, 'list', ctx, args, `${type} group ${group}=${value}`);
        // A group named after a many-to-one relation is that related row: the caller must be able to see it.
        const field = m.byName.get(group);
        if (field?.relation) {
          const target = byTarget.get(field.relation.inverseEntityMetadata.target)!;
          const related = await loaderFor(target, ctx).load(parseId(target, value));
          ctx.loaders.clear();
          if (!related) throw new ForbiddenError(`Not allowed to subscribe to ${type} group ${group}=${value}`);
        }
        const condition = conditionFor(m, 'list', ctx);
        if (event) return engine.subscribeEvent(m, topic.event(type, event, group, value), ctx, condition, directTargetOf(root));
        const after = await resumeFrom(args.after);
        return engine.subscribe(m, topic.group(type, group, value), ctx, condition, directTargetOf(root), after);
    };
    fields[names.groupSubscription(m.names)] = { subscribe: groupSubscribe(), resolve: passThrough };
    for (const name of Object.keys(m.options.events ?? {})) fields[name] = { subscribe: groupSubscribe(name), resolve: passThrough };
  }
  return { Subscription: fields };
}
