import type { EntityManager, FindOneOptions } from 'typeorm';
import { ormCaptureOf } from '../capture/orm/subscriber';
import type { LiveContext } from '../define/context';
import type { CustomAction } from '../define/resource';
import { BadUserInputError, NotFoundError } from '../errors';
import { parseId } from '../model/ids';
import type { ModelRegistry } from '../model/registry';
import { rowFindOptions } from '../model/relations';
import type { ResourceModel } from '../model/resource-model';
import { assertPermission, conditionFor, refusal } from '../policy/access';
import { both, toFindWhere, type Condition } from '../policy/where';
import { translateDbError } from './db-errors';
import { toEntityInput } from './input';


async function inTransaction<T>(model: ResourceModel, ctx: LiveContext, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  try {
    return await ctx.dataSource.transaction(work);
  } catch (error) {
    throw translateDbError(model, error);
  }
}

/** Whether the row with this id satisfies a condition, asked of the database inside the transaction. */
async function holds(manager: EntityManager, model: ResourceModel, condition: Condition, id: unknown): Promise<boolean> {
  if (condition === true) return true;
  const where = both(condition, [{ [model.primary.propertyName]: id }]);
  return where !== false && manager.getRepository(model.metadata.target).exists({ where: toFindWhere(where) });
}

/**
 * A relation in the input may only name a row the caller can see: an
 * invisible one is refused like a missing one (BAD_USER_INPUT, as the foreign
 * key would), so the answer never confirms that a private row exists.
 */
async function assertReferencesVisible(manager: EntityManager, model: ResourceModel, models: ModelRegistry, input: Record<string, unknown>, ctx: LiveContext): Promise<void> {
  for (const [name, value] of Object.entries(input)) {
    const field = model.byName.get(name);
    const target = field?.relation && models.targetOf(field);
    if (!target || value === null || value === undefined) continue;
    const id = parseId(target, value);
    if (!(await holds(manager, target, conditionFor(target, 'retrieve', ctx), id))) {
      throw new BadUserInputError(`${model.names.type}.${name}: ${target.names.type}:${id} does not exist`, { field: name });
    }
  }
}

/**
 * The written row as the response returns it, read back in the same query
 * that checks the policy it must now satisfy: null when it does not (the
 * caller then refuses the write and the transaction rolls back).
 */
async function reloadIf(manager: EntityManager, model: ResourceModel, condition: Condition, id: string | number): Promise<any> {
  const where = both(condition, [{ [model.primary.propertyName]: id }]);
  if (where === false) return null;
  const row = await manager.getRepository(model.metadata.target).findOne({ where: toFindWhere(where), ...rowFindOptions(model) });
  // The change ORM capture recorded for this write gets the row as the database now holds it.
  if (row) ormCaptureOf(manager.connection)?.amend(manager.queryRunner, model.metadata, id, row);
  return row;
}

/**
 * `createTask(input)`: permission, hook, `save` (so ORM subscribers see it),
 * then the create policy checked on the new row before commit: a row the
 * caller may not create rolls back and nothing is written.
 */
export async function createRow(model: ResourceModel, models: ModelRegistry, input: Record<string, unknown>, ctx: LiveContext): Promise<any> {
  await assertPermission(model, 'create', ctx, { input });
  let data = toEntityInput(model, models, input, 'create');
  const createPolicy = conditionFor(model, 'create', ctx);
  if (createPolicy === false) throw refusal(ctx, `create ${model.names.type}`);
  return inTransaction(model, ctx, async (manager) => {
    await assertReferencesVisible(manager, model, models, input, ctx);
    if (model.options.hooks?.beforeCreate) data = await model.options.hooks.beforeCreate(data, ctx);
    const repo = manager.getRepository(model.metadata.target);
    const saved = await repo.save(repo.create(data));
    const row = await reloadIf(manager, model, createPolicy, saved[model.primary.propertyName]);
    if (!row) throw refusal(ctx, `create ${model.names.type}`);
    return row;
  });
}

/**
 * Loads and locks the row for a write (`FOR UPDATE` of its table, in the
 * query that checks the caller's read and write policies) so that until
 * commit nobody else can change or delete it: what is loaded is the exact
 * before-image, and `save()` cannot write stale columns back over a
 * concurrent commit. Invisible → NOT_FOUND (never revealing that it
 * exists); visible but not writable → FORBIDDEN.
 */
async function rowForWrite(manager: EntityManager, model: ResourceModel, action: 'patch' | 'delete', id: string | number, ctx: LiveContext): Promise<any> {
  const read = both(conditionFor(model, 'retrieve', ctx), [{ [model.primary.propertyName]: id }]);
  const repo = manager.getRepository(model.metadata.target);
  const lock: FindOneOptions['lock'] = { mode: 'pessimistic_write', tables: [model.metadata.tableNameWithoutPrefix] };
  const find = (where: Condition, locked: boolean) => (where === false ? null : repo.findOne({ where: toFindWhere(where), ...(locked ? { lock } : {}) }));
  const writable = both(read, conditionFor(model, action, ctx));
  // The usual case in one query: visible, writable, locked.
  const row = await find(writable, true);
  if (row) return row;
  // Waiting for another writer's lock, PostgreSQL rechecks the condition against that writer's row
  // with the related rows it had joined before: ask once more, now that the row has settled.
  const again = await find(writable, true);
  if (again) return again;
  if (!(await find(read, false))) throw new NotFoundError(`${model.names.type}:${id} not found`);
  throw refusal(ctx, `${action} ${model.names.type}:${id}`);
}

/**
 * `patchTask(id, input)`: a partial update of the locked row; the write
 * policy must hold before and after (no moving a row out of reach). The
 * answer, and the event's after-image, are the row read back after the write.
 */
export async function patchRow(model: ResourceModel, models: ModelRegistry, rawId: unknown, input: Record<string, unknown>, ctx: LiveContext): Promise<any> {
  const id = parseId(model, rawId);
  await assertPermission(model, 'patch', ctx, { id: rawId, input }, `${model.names.type}:${id}`);
  let data = toEntityInput(model, models, input, 'patch');
  return inTransaction(model, ctx, async (manager) => {
    const row = await rowForWrite(manager, model, 'patch', id, ctx);
    await assertReferencesVisible(manager, model, models, input, ctx);
    if (model.options.hooks?.beforePatch) data = await model.options.hooks.beforePatch(data, ctx, row);
    Object.assign(row, data);
    await manager.getRepository(model.metadata.target).save(row);
    const patched = await reloadIf(manager, model, conditionFor(model, 'patch', ctx), id);
    if (!patched) throw refusal(ctx, `patch ${model.names.type}:${id} this way`);
    return patched;
  });
}

/** `deleteTask(id)`: the locked row, which the delete policy allows, is `remove`d (so ORM subscribers see it); returns the id. */
export async function deleteRow(model: ResourceModel, rawId: unknown, ctx: LiveContext): Promise<string> {
  const id = parseId(model, rawId);
  await assertPermission(model, 'delete', ctx, { id: rawId }, `${model.names.type}:${id}`);
  return inTransaction(model, ctx, async (manager) => {
    const row = await rowForWrite(manager, model, 'delete', id, ctx);
    await manager.getRepository(model.metadata.target).remove(row);
    return String(id);
  });
}

/** A custom action: its permission, then its resolver inside one transaction. */
export async function runAction(model: ResourceModel, name: string, action: CustomAction, args: Record<string, unknown>, ctx: LiveContext): Promise<unknown> {
  if (action.permission && !(await action.permission(ctx, args))) throw refusal(ctx, `run ${name}`);
  return inTransaction(model, ctx, (manager) => Promise.resolve(action.resolve(args, Object.assign(Object.create(null), ctx, { manager }))));
}
