import { FindOperator, type EntityMetadata } from 'typeorm';
import { isPlainObject, type Condition } from './where';

/**
 * The in-memory half of a row policy: does a loaded row satisfy a condition?
 * Mirrors what TypeORM's `find` does in SQL for the same `FindOptionsWhere`,
 * so that one policy serves queries and captured changes alike.
 *
 * Relations are read from the row: a loaded related object (`row.list`), or,
 * when the condition touches only the related primary key, the foreign-key
 * value. A condition on an unloaded relation throws: load it first
 * (`relationPaths` says which ones).
 */
export function matches(metadata: EntityMetadata, condition: Condition, row: Record<string, any> | null | undefined): boolean {
  if (condition === true) return row != null;
  if (condition === false || row == null) return false;
  return condition.some((where) => matchesObject(metadata, where as Record<string, unknown>, row));
}

function matchesObject(metadata: EntityMetadata, where: Record<string, unknown>, row: Record<string, any>): boolean {
  for (const [key, expected] of Object.entries(where)) {
    if (expected === undefined) continue;
    const relation = metadata.relations.find((r) => r.propertyName === key);
    if (relation && isPlainObject(expected)) {
      const nested = expected as Record<string, unknown>;
      const target = relation.inverseEntityMetadata;
      let related = row[key];
      if (related === undefined || related === null || typeof related !== 'object') {
        const fk = relation.joinColumns[0];
        const fkValue = fk ? row[fk.propertyName] ?? (related !== undefined && typeof related !== 'object' ? related : undefined) : undefined;
        const pk = target.primaryColumns[0].propertyName;
        const onlyPk = Object.keys(nested).every((k) => k === pk);
        if (fk && onlyPk && fkValue !== undefined) {
          related = fkValue === null ? null : { [pk]: fkValue };
        } else if (related === undefined) {
          throw new Error(`${metadata.name}.${key} must be loaded to evaluate this policy in memory`);
        }
      }
      if (related === null) return false;
      if (!matchesObject(target, nested, related)) return false;
      continue;
    }
    const actual = relation && !isPlainObject(expected) ? relationId(relation, row) : row[key];
    if (!matchesValue(actual, expected)) return false;
  }
  return true;
}

function relationId(relation: EntityMetadata['relations'][number], row: Record<string, any>): unknown {
  const value = row[relation.propertyName];
  if (value && typeof value === 'object') return value[relation.inverseEntityMetadata.primaryColumns[0].propertyName];
  const fk = relation.joinColumns[0];
  return fk ? row[fk.propertyName] : value;
}

function scalar(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'bigint') return Number(value);
  return value;
}

/** Equality as PostgreSQL sees it after parameter casting: `7` equals `'7'`. */
export function sameValue(a: unknown, b: unknown): boolean {
  const x = scalar(a);
  const y = scalar(b);
  if (x === y) return true;
  if (x === null || y === null || x === undefined || y === undefined) return false;
  if ((typeof x === 'number' || typeof y === 'number') && String(x).trim() !== '' && String(y).trim() !== '') return Number(x) === Number(y);
  if (typeof x === 'object' || typeof y === 'object') return JSON.stringify(x) === JSON.stringify(y);
  return String(x) === String(y);
}

function compare(a: unknown, b: unknown): number {
  const x = scalar(a);
  const y = scalar(b);
  if (typeof x === 'number' || typeof y === 'number') return Number(x) - Number(y);
  return String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0;
}

const likeCache = new Map<string, RegExp>();
function likeRegExp(pattern: string, insensitive: boolean): RegExp {
  const key = (insensitive ? 'i:' : 's:') + pattern;
  let re = likeCache.get(key);
  if (!re) {
    let source = '';
    for (let i = 0; i < pattern.length; i++) {
      const ch = pattern[i];
      if (ch === '\\' && i + 1 < pattern.length) source += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      else if (ch === '%') source += '[\\s\\S]*';
      else if (ch === '_') source += '[\\s\\S]';
      else source += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
    // `u`: `_` is one character (code point) in SQL, not one UTF-16 unit.
    re = new RegExp(`^${source}$`, insensitive ? 'iu' : 'u');
    if (likeCache.size > 1000) likeCache.clear();
    likeCache.set(key, re);
  }
  return re;
}

/** SQL three-valued logic collapsed the way WHERE does: unknown does not match. */
export function matchesValue(actual: unknown, expected: unknown): boolean {
  if (!(expected instanceof FindOperator)) {
    return actual !== null && actual !== undefined && sameValue(actual, expected);
  }
  const op = expected as FindOperator<any>;
  const value = op.child ?? op.value;
  switch (op.type) {
    case 'equal': return matchesValue(actual, value);
    case 'not': return isFalse(actual, value);
    case 'isNull': return actual === null || actual === undefined;
    case 'lessThan': return actual != null && compare(actual, value) < 0;
    case 'lessThanOrEqual': return actual != null && compare(actual, value) <= 0;
    case 'moreThan': return actual != null && compare(actual, value) > 0;
    case 'moreThanOrEqual': return actual != null && compare(actual, value) >= 0;
    case 'between': return actual != null && compare(actual, value[0]) >= 0 && compare(actual, value[1]) <= 0;
    case 'in': case 'any': return actual != null && (value as unknown[]).some((v) => sameValue(actual, v));
    case 'like': return typeof actual === 'string' && likeRegExp(String(value), false).test(actual);
    case 'ilike': return typeof actual === 'string' && likeRegExp(String(value), true).test(actual);
    case 'and': return (op.value as unknown as FindOperator<any>[]).every((o) => matchesValue(actual, o));
    case 'or': return (op.value as unknown as FindOperator<any>[]).some((o) => matchesValue(actual, o));
    case 'arrayContains': return Array.isArray(actual) && (value as unknown[]).every((v) => actual.some((a) => sameValue(a, v)));
    case 'arrayContainedBy': return Array.isArray(actual) && actual.every((a) => (value as unknown[]).some((v) => sameValue(a, v)));
    case 'arrayOverlap': return Array.isArray(actual) && actual.some((a) => (value as unknown[]).some((v) => sameValue(a, v)));
    default:
      throw new Error(`FindOperator "${op.type}" cannot be evaluated in memory; use it only in policies for queries`);
  }
}

/**
 * Whether a comparison is FALSE, not merely not TRUE: NOT holds only then
 * (NOT of UNKNOWN is UNKNOWN). `NOT (x = 1)` is unknown for a NULL x, while
 * `NOT (x IS NULL)`, `NOT (x IN ())` and `NOT NOT (x IS NULL)` are decided.
 */
function isFalse(actual: unknown, expected: unknown): boolean {
  const known = actual !== null && actual !== undefined;
  if (!(expected instanceof FindOperator)) return known && !sameValue(actual, expected);
  const op = expected as FindOperator<any>;
  const value = op.child ?? op.value;
  switch (op.type) {
    case 'isNull': return known;
    case 'not': return matchesValue(actual, value);
    case 'in': case 'any': return (value as unknown[]).length === 0 || (known && !matchesValue(actual, op));
    case 'and': return (op.value as unknown as FindOperator<any>[]).some((o) => isFalse(actual, o));
    case 'or': return (op.value as unknown as FindOperator<any>[]).every((o) => isFalse(actual, o));
    default: return known && !matchesValue(actual, op);
  }
}

/**
 * The relation paths a condition reads (`['list', 'list.owner']`), so a
 * caller can load them once for many rows before evaluating in memory.
 * Paths that only compare the related primary key are left out: the foreign
 * key on the row answers them.
 */
export function relationPaths(metadata: EntityMetadata, condition: Condition, prefix = ''): string[] {
  if (condition === true || condition === false) return [];
  const paths = new Set<string>();
  for (const where of condition) {
    for (const [key, expected] of Object.entries(where)) {
      const relation = metadata.relations.find((r) => r.propertyName === key);
      if (!relation || !isPlainObject(expected)) continue;
      const pk = relation.inverseEntityMetadata.primaryColumns[0].propertyName;
      const nested = expected as Record<string, unknown>;
      // A virtual join column (no mapped foreign-key property) is not on a loaded row: the relation must be loaded.
      if (Object.keys(nested).every((k) => k === pk) && relation.joinColumns.length && !relation.joinColumns[0].isVirtual) continue;
      paths.add(prefix + key);
      for (const p of relationPaths(relation.inverseEntityMetadata, [nested], `${prefix}${key}.`)) paths.add(p);
    }
  }
  return [...paths];
}

/**
 * The columns of first-level related rows a condition reads, as
 * `relation.property` (`['list.private', 'list.ownerId']`): a change of a
 * related row that touches none of them cannot change whether the condition
 * holds for the rows pointing at it. A nested relation counts as its
 * foreign key (and its property).
 */
export function relationReads(metadata: EntityMetadata, condition: Condition): string[] {
  if (condition === true || condition === false) return [];
  const reads = new Set<string>();
  for (const where of condition) {
    for (const [key, expected] of Object.entries(where)) {
      const relation = metadata.relations.find((r) => r.propertyName === key);
      if (!relation || !isPlainObject(expected)) continue;
      const target = relation.inverseEntityMetadata;
      for (const field of Object.keys(expected as Record<string, unknown>)) {
        reads.add(`${key}.${field}`);
        const nested = target.relations.find((r) => r.propertyName === field);
        for (const column of nested?.joinColumns ?? []) reads.add(`${key}.${column.propertyName}`);
      }
    }
  }
  return [...reads];
}
