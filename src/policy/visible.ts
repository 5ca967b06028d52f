import DataLoader from 'dataloader';
import { In } from 'typeorm';
import type { LiveContext } from '../define/context';
import { rowFindOptions } from '../model/relations';
import type { ResourceModel } from '../model/resource-model';
import { conditionFor } from './access';
import { both, toFindWhere } from './where';

type RowLoader = DataLoader<string | number, any | null>;

/**
 * One loader per request and resource: rows by primary key under the
 * caller's retrieve policy, batched into a single `IN` query per tick, so a
 * list of tasks resolves all their lists in one query (no N+1).
 */
export function visibleRows(model: ResourceModel, ctx: LiveContext): RowLoader {
  const key = `row:${model.names.type}`;
  let loader = ctx.loaders.get(key) as RowLoader | undefined;
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

/**
 * The row `id` as this caller may see it, or null (missing or not visible:
 * never says which). Read afresh, not from the request's cache: a check at
 * subscribe time must see the row as it is now.
 */
export async function loadVisible(model: ResourceModel, id: string | number, ctx: LiveContext): Promise<any | null> {
  const loader = visibleRows(model, ctx);
  loader.clear(id);
  try {
    return await loader.load(id);
  } finally {
    loader.clear(id);
  }
}
