import type { LiveContext } from '../define/context';
import { BadUserInputError } from '../errors';
import { parseId } from '../model/ids';
import type { ModelRegistry } from '../model/registry';
import { rowFindOptions } from '../model/relations';
import type { ResourceModel } from '../model/resource-model';
import { assertPermission, conditionFor, permissionFor } from '../policy/access';
import { visibleRows } from '../policy/visible';
import { both, toFindWhere } from '../policy/where';
import { orderToFind, whereToCondition } from './input';

export interface ListArgs {
  where?: Record<string, any> | null;
  orderBy?: Record<string, string>[] | null;
  limit?: number | null;
  offset?: number | null;
}

export interface Limits {
  defaultLimit: number;
  maxLimit: number;
}

/** `tasks(where, orderBy, limit, offset)`: the caller's list policy AND the where, one query. */
export async function listRows(
  model: ResourceModel,
  models: ModelRegistry,
  args: ListArgs,
  ctx: LiveContext,
  limits: Limits,
): Promise<any[]> {
  await assertPermission(model, 'list', ctx, args as Record<string, unknown>);
  const max = model.options.maxLimit ?? limits.maxLimit;
  const limit = args.limit ?? model.options.defaultLimit ?? Math.min(limits.defaultLimit, max);
  if (limit < 0 || limit > max) throw new BadUserInputError(`limit must be between 0 and ${max}`, { field: 'limit' });
  const offset = args.offset ?? 0;
  if (offset < 0) throw new BadUserInputError('offset may not be negative', { field: 'offset' });
  const condition = both(conditionFor(model, 'list', ctx), whereToCondition(model, models, args.where, ctx));
  const order = orderToFind(model, args.orderBy, ctx);
  if (condition === false || limit === 0) return [];
  return ctx.dataSource.getRepository(model.metadata.target).find({
    where: toFindWhere(condition), order, take: limit, skip: offset, ...rowFindOptions(model),
  });
}

/** `task(id)`: null when missing or not visible to the caller (never says which). */
export async function retrieveRow(model: ResourceModel, id: unknown, ctx: LiveContext): Promise<any | null> {
  await assertPermission(model, 'retrieve', ctx, { id });
  return visibleRows(model, ctx).load(parseId(model, id));
}

/**
 * The related row of a many-to-one field: null unless the caller may
 * retrieve it — the target's `retrieve` permission, then its read policy
 * through the target's loader.
 */
export function relatedRow(
  model: ResourceModel,
  models: ModelRegistry,
  fieldName: string,
  row: Record<string, any>,
  ctx: LiveContext,
): Promise<any | null> | null {
  const field = model.byName.get(fieldName)!;
  const target = models.targetOf(field);
  const value = row[fieldName];
  const id = field.foreignKey
    ? row[field.foreignKey.propertyName]
    : value && typeof value === 'object' ? value[target.primary.propertyName] : value;
  if (id === null || id === undefined) return null;
  const allowed = permissionFor(target, 'retrieve')(ctx, { id });
  // Synchronous permissions (the usual kind) keep the load in this tick, batched with its siblings.
  if (allowed === true) return visibleRows(target, ctx).load(id);
  if (allowed === false) return null;
  return allowed.then((ok) => (ok ? visibleRows(target, ctx).load(id) : null));
}
