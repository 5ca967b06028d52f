import type { EntityTarget, FindOptionsWhere, ObjectLiteral } from 'typeorm';
import type { LiveContext } from './context';
import type { FieldRule, Permission } from './permissions';

/**
 * A row policy says which rows the caller may see or touch, as a TypeORM
 * `FindOptionsWhere`: a plain object, an array for OR, related rows as nested
 * objects (`{ list: { ownerId: 7 } }`), FindOperators allowed. The same value
 * becomes a SQL condition for queries and writes and is evaluated in memory on
 * captured changes, so the two can never drift.
 *
 * Return `true` for every row and `false` for none. Never put `undefined` or
 * `null` in it (TypeORM 1.x refuses them): branch on `ctx.user` instead.
 *
 * @example (ctx) => ctx.user ? [{ private: false }, { ownerId: ctx.user.id }] : { private: false }
 */
export type RowPolicy<T = any, C extends LiveContext = LiveContext> = (
  ctx: C,
) => FindOptionsWhere<T> | FindOptionsWhere<T>[] | boolean;

export type Action = 'list' | 'retrieve' | 'create' | 'patch' | 'delete';

/**
 * A declared list filter (DCRF's `filter_queryset` with a query parameter):
 * an extra field of the `XWhere` input whose value becomes a condition.
 * @example bodyContains: { type: 'String', where: (v) => ({ body: ILike(`%${v}%`) }) }
 */
export interface ListFilter<T = any> {
  /** GraphQL input type of the value, e.g. `String`, `Int`, `[ID!]`. */
  type: string;
  description?: string;
  where: (value: any, ctx: LiveContext) => FindOptionsWhere<T> | FindOptionsWhere<T>[];
}

/**
 * A group function names the groups a row belongs to (DCRF's
 * `groups_for_signal`): one value, several, or none (null/undefined/[]).
 */
export type GroupFn<T = any> = (row: T) => unknown;

/**
 * A custom field (DCRF's `@action`): added to Mutation (default) or Query.
 * @example completeAllTasks: { args: { list: 'ID!' }, type: 'Int!', resolve: (args, ctx) => … }
 */
export interface CustomAction<C extends LiveContext = LiveContext> {
  /** `mutation` (default) or `query`. */
  kind?: 'mutation' | 'query';
  /** Argument name → GraphQL input type. */
  args?: Record<string, string>;
  /** GraphQL output type, e.g. `Int!`, `Task`, `[Task!]!`. */
  type: string;
  description?: string;
  /** Checked before `resolve`; default `allowAny`. */
  permission?: Permission<C>;
  /** Runs inside one transaction (`ctx.manager`), so a failure writes nothing. */
  resolve: (args: any, ctx: C & { manager: import('typeorm').EntityManager }) => unknown;
}

export interface ResourceOptions<T extends ObjectLiteral = any, C extends LiveContext = LiveContext> {
  /** GraphQL type name; default the entity's class name. */
  name?: string;
  /** Plural for list fields; default an English plural of the camel name. */
  plural?: string;
  /**
   * Properties exposed (columns and many-to-one relations). Default: every
   * column and many-to-one relation, except foreign-key columns that a
   * relation already exposes.
   */
  fields?: (keyof T & string)[];
  /** Shown but never written (absent from inputs). Primary keys, generated and create/update-date columns always are. */
  readOnly?: (keyof T & string)[];
  /** Written but never shown (absent from the output type), e.g. `password`. */
  writeOnly?: (keyof T & string)[];
  /**
   * Characters a String field takes when written (BAD_USER_INPUT over it).
   * Default: a varchar's length, else the server's `maxTextLength` (10,000).
   */
  maxLength?: Partial<Record<keyof T & string, number>>;
  /** Per-field read rules; a hidden field comes back `null` (so it is nullable in the schema). */
  fieldAccess?: Partial<Record<keyof T & string, FieldRule<T, C>>>;
  /**
   * Per action; default `allowAny` for list/retrieve, deny for create/patch/delete.
   * A false answer is UNAUTHENTICATED for an anonymous caller, FORBIDDEN otherwise.
   */
  permissions?: Partial<Record<Action, Permission<C>>>;
  /**
   * Row policies per action. `read` serves list, retrieve and subscriptions;
   * `patch` and `delete` default to `write`, which defaults to `read`; `create`
   * (default `write`) must hold for the new row before the transaction commits.
   */
  policy?: Partial<Record<'read' | 'write' | Action, RowPolicy<T, C>>>;
  /** Declared list filters, added to `XWhere`. */
  filters?: Record<string, ListFilter<T>>;
  hooks?: {
    /** Shapes the input before insert (set the author, hash a password). Return the new input. */
    beforeCreate?: (input: Record<string, any>, ctx: C) => Record<string, any> | Promise<Record<string, any>>;
    /** Shapes the input before update; `row` is the current row. */
    beforePatch?: (input: Record<string, any>, ctx: C, row: T) => Record<string, any> | Promise<Record<string, any>>;
  };
  /** Groups for `xGroupChanged`: name → function of a row. */
  groups?: Record<string, GroupFn<T>>;
  /**
   * Custom events (DCRF's `@observer` on a custom signal): name → GraphQL type
   * of the payload. Each becomes `name(group: XGroup!): type` in Subscription,
   * routed by the groups of the row it is about, and reaches only subscribers
   * whose read policy lets them see that row. Publish with `publishEvent`.
   * @example events: { taskReminder: { type: 'String!' } }
   */
  events?: Record<string, { type: string; description?: string }>;
  /** Custom mutation/query fields. */
  actions?: Record<string, CustomAction<C>>;
  /** Maximum `limit` of the list query; default the server's (1000). */
  maxLimit?: number;
  /** Default `limit` of the list query; default 100. */
  defaultLimit?: number;
}

/** A resource: one entity exposed through the generated schema. */
export interface Resource<T extends ObjectLiteral = any, C extends LiveContext = LiveContext> {
  readonly entity: EntityTarget<T>;
  readonly options: ResourceOptions<T, C>;
}

/**
 * Expose a TypeORM entity.
 * @example resource(Task, { groups: { list: (t) => t.listId }, fieldAccess: { done: isAuthenticated } })
 */
export function resource<T extends ObjectLiteral, C extends LiveContext = LiveContext>(
  entity: EntityTarget<T>,
  options: ResourceOptions<T, C> = {},
): Resource<T, C> {
  return { entity, options };
}
