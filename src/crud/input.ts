import { IsNull, type FindOptionsOrder } from 'typeorm';
import type { LiveContext } from '../define/context';
import { BadUserInputError, ForbiddenError } from '../errors';
import { parseId } from '../model/ids';
import type { ModelRegistry } from '../model/registry';
import type { FieldModel, ResourceModel } from '../model/resource-model';
import { both, normalize, type Condition } from '../policy/where';

/**
 * GraphQL input → entity properties. Relations are written through their
 * foreign-key property when the entity maps one (so the loaded relation and
 * the key never disagree), else as `{ id }`.
 */
export function toEntityInput(
  model: ResourceModel,
  models: ModelRegistry,
  input: Record<string, unknown>,
  mode: 'create' | 'patch',
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    const field = model.byName.get(name);
    if (!field || !(mode === 'create' ? field.creatable : field.patchable)) {
      throw new BadUserInputError(`${model.names.type}.${name} cannot be written`, { field: name });
    }
    if (value === null && !field.nullable) {
      throw new BadUserInputError(`${model.names.type}.${name} may not be null`, { field: name });
    }
    if (field.relation) {
      const target = models.targetOf(field);
      const id = value === null ? null : parseId(target, value, `${target.names.type}`);
      if (field.foreignKey) out[field.foreignKey.propertyName] = id;
      else out[name] = id === null ? null : { [target.primary.propertyName]: id };
      continue;
    }
    if (field.maxLength && typeof value === 'string' && value.length > field.maxLength) {
      throw new BadUserInputError(`${model.names.type}.${name} is longer than ${field.maxLength} characters`, { field: name });
    }
    out[name] = value;
  }
  return out;
}

/** A filter's String value (or each of a list's) within `max` characters. */
function assertFilterLength(model: ResourceModel, key: string, value: unknown, max: number): void {
  for (const item of Array.isArray(value) ? value : [value]) {
    if (typeof item === 'string' && item.length > max) {
      throw new BadUserInputError(`${model.names.type}Where.${key} is longer than ${max} characters`, { field: key });
    }
  }
}

/** Filtering or ordering by a field is itself a read of it. */
function assertCanFilter(model: ResourceModel, field: FieldModel, ctx: LiveContext): void {
  if (field.access && !field.access(ctx, undefined)) {
    throw new ForbiddenError(`Not allowed to filter or order ${model.names.type} by ${field.name}`);
  }
}

/** `XWhere` input → condition: fields compare for equality (null = IS NULL), `OR` lists alternatives, declared filters add their own. */
export function whereToCondition(
  model: ResourceModel,
  models: ModelRegistry,
  where: Record<string, any> | null | undefined,
  ctx: LiveContext,
): Condition {
  if (!where) return true;
  let condition: Condition = true;
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(where)) {
    if (key === 'OR') {
      if (!Array.isArray(value) || value.length === 0) throw new BadUserInputError(`${model.names.type}Where.OR needs at least one alternative`);
      const alternatives = value.map((w) => whereToCondition(model, models, w, ctx));
      if (alternatives.includes(true)) continue;
      const list = alternatives.filter((a): a is Exclude<Condition, boolean> => a !== false).flat();
      condition = both(condition, list.length ? list : false);
      continue;
    }
    const filter = model.options.filters?.[key];
    if (filter) {
      if (value === null || value === undefined) continue;
      assertFilterLength(model, key, value, model.maxFilterLength);
      condition = both(condition, normalize(filter.where(value, ctx)));
      continue;
    }
    const field = model.byName.get(key);
    if (!field) throw new BadUserInputError(`Unknown filter ${model.names.type}Where.${key}`);
    assertCanFilter(model, field, ctx);
    if (field.relation) {
      const target = models.targetOf(field);
      const id = value === null ? null : parseId(target, value);
      if (field.foreignKey) plain[field.foreignKey.propertyName] = id === null ? IsNull() : id;
      else plain[key] = id === null ? IsNull() : { [target.primary.propertyName]: id };
    } else if (field.column?.isPrimary) {
      plain[key] = parseId(model, value);
    } else {
      // A value longer than the field can hold matches nothing; refused like one too long to write.
      if (field.maxLength !== undefined) assertFilterLength(model, key, value, field.maxLength);
      plain[key] = value === null ? IsNull() : value;
    }
  }
  return Object.keys(plain).length ? both(condition, [plain]) : condition;
}

/** `[XOrder!]` → TypeORM order, with the primary key last so pages are stable. */
export function orderToFind(model: ResourceModel, orderBy: Record<string, string>[] | null | undefined, ctx: LiveContext): FindOptionsOrder<any> {
  const order: Record<string, 'ASC' | 'DESC'> = {};
  for (const entry of orderBy ?? []) {
    const keys = Object.keys(entry);
    if (keys.length !== 1) throw new BadUserInputError(`${model.names.type}Order takes exactly one field per entry`);
    const field = model.byName.get(keys[0])!;
    assertCanFilter(model, field, ctx);
    const property = field.relation ? field.foreignKey?.propertyName : field.name;
    if (!property) throw new BadUserInputError(`Cannot order ${model.names.type} by ${field.name}`);
    if (!(property in order)) order[property] = entry[keys[0]] === 'DESC' ? 'DESC' : 'ASC';
  }
  if (!(model.primary.propertyName in order)) order[model.primary.propertyName] = 'ASC';
  return order;
}
