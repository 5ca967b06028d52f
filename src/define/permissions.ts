import type { LiveContext } from './context';

/**
 * A permission decides whether the caller may run an action at all, before
 * any row is looked at (DCRF's `has_permission`). `args` are the GraphQL
 * arguments of the field being resolved.
 */
export type Permission<C extends LiveContext = LiveContext> = (
  ctx: C,
  args: Record<string, unknown>,
) => boolean | Promise<boolean>;

/**
 * A field rule decides whether the caller may read one field of one row
 * (rest-live's conditional serializers). `row` is the entity being shown; it
 * is undefined when the rule is asked about the field in general (filtering
 * or ordering by it), so row-dependent rules should answer false then.
 */
export type FieldRule<T = any, C extends LiveContext = LiveContext> = (ctx: C, row?: T) => boolean;

/** Anyone, signed in or not. */
export const allowAny = (): boolean => true;

/** Nobody: the default for writes that a resource does not open up. */
export const denyAll = (): boolean => false;

/** Only a caller with a user. */
export const isAuthenticated = (ctx: LiveContext): boolean => ctx.user != null;

type Rule<C extends LiveContext> = (ctx: C, arg?: any) => boolean | Promise<boolean>;
type Combined<C extends LiveContext> = (ctx: C, arg?: any) => boolean | Promise<boolean>;

/**
 * Evaluates rules left to right and stays synchronous while they are, so a
 * combination of synchronous rules can also serve as a field rule.
 */
function combine<C extends LiveContext>(rules: Rule<C>[], stopOn: boolean): Combined<C> {
  return (ctx, arg) => {
    for (let i = 0; i < rules.length; i++) {
      const result = rules[i](ctx, arg);
      if (typeof result !== 'boolean') {
        return (async () => {
          if ((await result) === stopOn) return stopOn;
          for (const rule of rules.slice(i + 1)) if ((await rule(ctx, arg)) === stopOn) return stopOn;
          return !stopOn;
        })();
      }
      if (result === stopOn) return stopOn;
    }
    return !stopOn;
  };
}

/** All of the rules (evaluated in order, stops at the first false). */
export function and<C extends LiveContext>(...rules: Rule<C>[]): Combined<C> {
  return combine(rules, false);
}

/** Any of the rules (evaluated in order, stops at the first true). */
export function or<C extends LiveContext>(...rules: Rule<C>[]): Combined<C> {
  return combine(rules, true);
}

/** The opposite of a rule. */
export function not<C extends LiveContext>(rule: Rule<C>): Combined<C> {
  return (ctx, arg) => {
    const result = rule(ctx, arg);
    return typeof result === 'boolean' ? !result : result.then((r) => !r);
  };
}
