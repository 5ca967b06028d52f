import { And, FindOperator, type FindOptionsWhere } from 'typeorm';
import type { LiveContext } from '../define/context';
import type { RowPolicy } from '../define/resource';

type Where = FindOptionsWhere<any>;

/**
 * A condition in normal form: `true` (every row), `false` (no row) or a
 * non-empty list of objects, any of which may match (OR).
 */
export type Condition = true | false | Where[];

export function normalize(value: Where | Where[] | boolean | undefined | null): Condition {
  if (value === undefined || value === null || value === true) return true;
  if (value === false) return false;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return false;
  if (list.some((w) => Object.keys(w).length === 0)) return true;
  return list;
}

/** Evaluates a policy for a caller; an absent policy allows every row. */
export function evaluatePolicy(policy: RowPolicy | undefined, ctx: LiveContext): Condition {
  return policy ? normalize(policy(ctx)) : true;
}

/** A nested condition object (a relation's where), as opposed to a value or a FindOperator. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !(value instanceof FindOperator)
    && !(value instanceof Date) && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** Both conditions on one object: nested relation objects merge, clashing values become `And`. */
function mergeWhere(a: Where, b: Where): Where {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (!(key in out)) {
      out[key] = value;
    } else if (isPlainObject(out[key]) && isPlainObject(value)) {
      out[key] = mergeWhere(out[key] as Where, value as Where);
    } else {
      const left = out[key] instanceof FindOperator ? out[key] : new FindOperator('equal', out[key]);
      const right = value instanceof FindOperator ? value : new FindOperator('equal', value);
      out[key] = And(left as FindOperator<any>, right as FindOperator<any>);
    }
  }
  return out;
}

/** AND of two conditions, kept in normal form (OR of ANDs). */
export function both(a: Condition, b: Condition): Condition {
  if (a === false || b === false) return false;
  if (a === true) return b;
  if (b === true) return a;
  const out: Where[] = [];
  for (const x of a) for (const y of b) out.push(mergeWhere(x, y));
  return out;
}

/** Turns a condition into a TypeORM `where`; `false` must be handled by the caller (no query at all). */
export function toFindWhere(condition: Exclude<Condition, false>): Where | Where[] {
  return condition === true ? {} : condition.length === 1 ? condition[0] : condition;
}
