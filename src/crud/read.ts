import DataLoader from 'dataloader';
import { In } from 'typeorm';
import type { LiveContext } from '../define/context';
import { BadUserInputError } from '../errors';
import type { ResourceModel } from '../schema/model';
import { both, toFindWhere } from '../policy/where';
import { assertPermission, conditionFor } from './access';
import { orderToFind, parseId, whereToCondition } from './input';

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

/**
 * Find options for rows the resolvers return: a many-to-one without a mapped
 * foreign-key property is not on a loaded row, so its key is loaded with it
 * (`row.reviewer = { id }`, from the same query) for `relatedRow` to resolve.
 */
export function rowFindOptions(model: ResourceModel): { loadRelationIds?: { relations: string[]; disableMixedMap: true } } {
  const relations = model.fields.filter((f) => f.relation && !f.foreignKey && f.readable).map((f) => f.name);
  return relations.length ? { loadRelationIds: { relations, disableMixedMap: true } } : {};
}

/** `tasks(where, orderBy, limit, offset)`: the caller's list policy AND the where, one query. */
export async function listRows(
  model: ResourceModel,
  models: Map<unknown, ResourceModel>,
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
  return loaderFor(model, ctx).load(parseId(model, id));
}

/**
 * One loader per request and resource: rows by primary key under the
 * caller's read policy, batched into a single `IN` query per tick, so a list
 * of tasks resolves all their lists in one query (no N+1).
 */
export function loaderFor(model: ResourceModel, ctx: LiveContext): DataLoader<string | number, any | null> {
  const key = `row:${model.names.type}`;
  let loader = ctx.loaders.get(key) as DataLoader<string | number, any | null> | undefined;
  if (!loader) {
    const pk = model.primary.propertyName;
    loader = new DataLoader(async (ids) => {
      const condition = both(conditionFor(model, 'retrieve', ctx), [{ [pk]: In([...ids]) }]);
      const rows = condition === false ? [] : await ctx.dataSource.getRepository(model.metadata.target).find({ where: toFindWhere(condition), ...rowFindOptions(model) });
      const byId = new Map(rows.map((r) => [String(r[pk]), r]));
      return ids.map((id) => byId.get(String(id)) ?? null);
    }, { cacheKeyFn: (id) => String(id) });
    ctx.loaders.set(key, loader);
  }
  return loader;
}

/** The related row of a many-to-one field, through the target's loader (so its read policy applies). */
export function relatedRow(
  model: ResourceModel,
  models: Map<unknown, ResourceModel>,
  fieldName: string,
  row: Record<string, any>,
  ctx: LiveContext,
): Promise<any | null> | null {
  const field = model.byName.get(fieldName)!;
  const target = models.get(field.relation!.inverseEntityMetadata.target)!;
  const value = row[fieldName];
  const id = field.foreignKey
    ? row[field.foreignKey.propertyName]
    : value && typeof value === 'object' ? value[target.primary.propertyName] : value;
  if (id === null || id === undefined) return null;
  return loaderFor(target, ctx).load(id);
}
