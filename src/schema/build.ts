import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import type { DataSource } from 'typeorm';
import type { AuthUser, LiveContext } from '../define/context';
import type { Resource } from '../define/resource';
import { SchemaDefinitionError } from '../errors';
import { buildModel, linkModels, type ResourceModel } from './model';
import { crudResolvers } from './resolvers';
import { DateTime, JSONScalar } from './scalars';
import { commonTypeDefs, resourceTypeDefs, rootFields } from './sdl';

export interface BuildSchemaOptions {
  /** The application's initialized TypeORM DataSource. */
  dataSource: DataSource;
  /** The exposed entities. */
  resources: Resource<any, any>[];
  /** Extra SDL merged into the generated schema (types used by custom actions). */
  typeDefs?: string;
  /** Resolvers for `typeDefs`. */
  resolvers?: Record<string, any>;
  /** Default `limit` of list queries; default 100. */
  defaultLimit?: number;
  /** Maximum `limit` of list queries; default 1000. Over it: BAD_USER_INPUT. */
  maxLimit?: number;
}

export interface LiveSchema {
  schema: GraphQLSchema;
  /** The resolved resources, by GraphQL type name. */
  models: ResourceModel[];
  /** A fresh per-request/per-operation context for a caller. */
  createContext(user: AuthUser | null): LiveContext;
}

/** Resources + TypeORM metadata → an executable schema with the pinned names of DESIGN. */
export function buildLiveSchema({
  dataSource, resources, typeDefs = '', resolvers = {}, defaultLimit = 100, maxLimit = 1000,
}: BuildSchemaOptions): LiveSchema {
  if (dataSource.entityMetadatas.length === 0) throw new SchemaDefinitionError('buildLiveSchema needs an initialized DataSource (its entity metadata is empty)');
  const models = resources.map((r) => buildModel(dataSource, r));
  const seen = new Set<string>();
  for (const m of models) {
    if (seen.has(m.names.type)) throw new SchemaDefinitionError(`${m.names.type} is exposed twice`);
    seen.add(m.names.type);
  }
  linkModels(models);
  const query: string[] = [];
  const mutation: string[] = [];
  const subscription: string[] = [];
  const parts = [commonTypeDefs];
  for (const m of models) {
    parts.push(resourceTypeDefs(m));
    const root = rootFields(m);
    query.push(...root.query);
    mutation.push(...root.mutation);
    subscription.push(...root.subscription);
  }
  parts.push(`type Query {\n${query.join('\n')}\n}`);
  if (mutation.length) parts.push(`type Mutation {\n${mutation.join('\n')}\n}`);
  if (subscription.length) parts.push(`type Subscription {\n${subscription.join('\n')}\n}`);
  const generated = crudResolvers(models, { defaultLimit, maxLimit });
  const schema = makeExecutableSchema({
    typeDefs: [parts.join('\n\n'), typeDefs].filter(Boolean),
    resolvers: [{ DateTime, JSON: JSONScalar }, generated, resolvers],
  });
  return {
    schema,
    models,
    createContext: (user) => ({ user, dataSource, loaders: new Map() }),
  };
}
