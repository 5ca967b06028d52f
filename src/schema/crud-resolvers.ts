import type { LiveContext } from '../define/context';
import { listRows, relatedRow, retrieveRow, type Limits } from '../crud/read';
import { createRow, deleteRow, patchRow, runAction } from '../crud/write';
import { names } from '../model/names';
import type { ModelRegistry } from '../model/registry';
import type { ResourceModel } from '../model/resource-model';

type Resolvers = Record<string, Record<string, any>>;

/** Field resolvers of a resource's output type: field rules, relations, enums. */
function typeResolvers(m: ResourceModel, models: ModelRegistry, resolvers: Resolvers): void {
  const fields: Record<string, any> = {};
  for (const f of m.fields) {
    if (!f.readable) continue;
    if (f.relation) {
      const rule = f.access;
      fields[f.name] = (row: any, _: unknown, ctx: LiveContext) =>
        rule && !rule(ctx, row) ? null : relatedRow(m, models, f.name, row, ctx);
    } else if (f.access) {
      const rule = f.access;
      fields[f.name] = (row: any, _: unknown, ctx: LiveContext) => (rule(ctx, row) ? row[f.name] : null);
    }
    if (f.enumValues) resolvers[f.graphqlType] = { ...f.enumValues };
  }
  if (Object.keys(fields).length) resolvers[m.names.type] = fields;
}

/** Query and Mutation resolvers of every resource, wired to the CRUD layer. */
export function crudResolvers(models: ModelRegistry, limits: Limits): Resolvers {
  const resolvers: Resolvers = { Query: {}, Mutation: {} };
  for (const m of models.all) {
    const n = m.names;
    typeResolvers(m, models, resolvers);
    resolvers.Query[names.retrieveQuery(n)] = (_: unknown, args: { id: string }, ctx: LiveContext) => retrieveRow(m, args.id, ctx);
    resolvers.Query[names.listQuery(n)] = (_: unknown, args: any, ctx: LiveContext) => listRows(m, models, args, ctx, limits);
    resolvers.Mutation[names.createMutation(n)] = (_: unknown, args: { input: any }, ctx: LiveContext) => createRow(m, models, args.input, ctx);
    resolvers.Mutation[names.patchMutation(n)] = (_: unknown, args: { id: string; input: any }, ctx: LiveContext) => patchRow(m, models, args.id, args.input, ctx);
    resolvers.Mutation[names.deleteMutation(n)] = (_: unknown, args: { id: string }, ctx: LiveContext) => deleteRow(m, args.id, ctx);
    for (const [name, action] of Object.entries(m.options.actions ?? {})) {
      resolvers[action.kind === 'query' ? 'Query' : 'Mutation'][name] = (_: unknown, args: any, ctx: LiveContext) => runAction(m, name, action, args, ctx);
    }
  }
  return resolvers;
}
