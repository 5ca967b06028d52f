import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import type { Limits } from '../crud/read';
import type { LiveEngine } from '../live/engine';
import { subscriptionResolvers } from '../live/subscription-fields';
import type { ModelRegistry } from '../model/registry';
import { crudResolvers } from './crud-resolvers';
import { DateTime, JSONScalar } from './scalars';
import { commonTypeDefs, resourceTypeDefs, rootFields } from './sdl';

export interface SchemaExtensions {
  /** Extra SDL merged into the generated schema (types used by custom actions). */
  typeDefs?: string;
  /** Resolvers for `typeDefs`. */
  resolvers?: Record<string, any>;
}

/**
 * Models → an executable schema with the generated names of ../model/names.ts: SDL per
 * resource, CRUD resolvers over TypeORM, subscription fields fed by
 * `engine`. Pure: it starts nothing.
 */
export function buildSchema(models: ModelRegistry, engine: LiveEngine, limits: Limits, { typeDefs = '', resolvers = {} }: SchemaExtensions = {}): GraphQLSchema {
  const query: string[] = [];
  const mutation: string[] = [];
  const subscription: string[] = [];
  const parts = [commonTypeDefs];
  for (const m of models.all) {
    parts.push(resourceTypeDefs(m));
    const root = rootFields(m);
    query.push(...root.query);
    mutation.push(...root.mutation);
    subscription.push(...root.subscription);
  }
  parts.push(`type Query {\n${query.join('\n')}\n}`);
  if (mutation.length) parts.push(`type Mutation {\n${mutation.join('\n')}\n}`);
  if (subscription.length) parts.push(`type Subscription {\n${subscription.join('\n')}\n}`);
  return makeExecutableSchema({
    typeDefs: [parts.join('\n\n'), typeDefs].filter(Boolean),
    resolvers: [{ DateTime, JSON: JSONScalar }, crudResolvers(models, limits), subscriptionResolvers(models, engine), resolvers],
  });
}
