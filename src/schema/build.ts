import { makeExecutableSchema } from '@graphql-tools/schema';
import type { GraphQLSchema } from 'graphql';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuthUser, LiveContext } from '../define/context';
import type { Resource } from '../define/resource';
import { SchemaDefinitionError } from '../errors';
import { buildModel, linkModels, type ResourceModel } from './model';
import { crudResolvers } from './resolvers';
import { startOrmCapture, stopOrmCapture } from '../capture/orm';
import { installOutbox, OutboxReader, type OutboxOptions } from '../capture/outbox';
import { LiveEngine, type LiveEngineOptions, type LiveEvent } from '../live/engine';
import { subscriptionResolvers } from '../live/resolvers';
import type { PubSub } from '../pubsub/types';
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
  /**
   * Where changes come from.
   * - `'orm'` (default): a TypeORM entity subscriber sees every write made
   *   through this DataSource's repositories and managers, published after
   *   commit. Raw SQL, QueryBuilder bulk writes and other services are not
   *   seen (use `bulkUpdate`/`bulkDelete`); `after` cursors are not offered.
   * - `'database'`: triggers write every committed change of the exposed
   *   tables to an outbox table that this process tails (NOTIFY + polling).
   *   Sees every write from anywhere, and subscribers can resume with
   *   `after: cursor`. Starts asynchronously: await `live.ready`.
   * - `'none'`: nothing is captured (call `live.engine.ingest` yourself).
   */
  capture?: CaptureMode;
  /** Database capture: outbox schema, polling, LISTEN, retention; see {@link OutboxOptions}. */
  outbox?: OutboxOptions & {
    /** Create the outbox and triggers at start (idempotent); default true. Off when you apply `print-migration` yourself. */
    install?: boolean;
  };
  /** How routed events reach subscribers; default in-process. */
  pubsub?: PubSub<LiveEvent>;
  /** Events a subscriber may fall behind before it is ended with SLOW_CONSUMER; default 1000. */
  subscriberQueueLimit?: number;
  /**
   * WebSocket subscribers with the same document, variables and visibility
   * key share one execution per event, made with one of their contexts; the
   * default key, the caller's `user.id`, is right while permissions, row
   * policies and field rules look only at `ctx.user`'s identity. See
   * {@link LiveEngineOptions.visibilityKey}.
   */
  visibilityKey?: LiveEngineOptions['visibilityKey'];
}

export type CaptureMode = 'orm' | 'database' | 'none';

export interface LiveSchema {
  schema: GraphQLSchema;
  /** The resolved resources, by GraphQL type name. */
  models: ResourceModel[];
  /** A fresh per-request/per-operation context for a caller. */
  createContext(user: AuthUser | null): LiveContext;
  /** Routes captured changes to subscribers; `activeSubscriptions` counts them. */
  engine: LiveEngine;
  /**
   * Publishes a custom event declared in a resource's `events` about `row`.
   * Given a transactional `manager`, it goes out after the outermost commit
   * (and never on rollback); otherwise at once.
   */
  publishEvent(name: string, payload: unknown, row: Record<string, unknown>, manager?: EntityManager): Promise<void>;
  /** How changes are captured. */
  capture: CaptureMode;
  /** Database capture: the outbox reader (position, `catchUp()`, `prune()`). */
  outbox?: OutboxReader;
  /** Resolves when capture runs (database capture installs and starts its reader); rejects if it cannot start. */
  ready: Promise<void>;
  /** Stops capture and ends every subscription. */
  close(): Promise<void>;
}

/** Resources + TypeORM metadata → an executable schema with the pinned names of DESIGN. */
export function buildLiveSchema({
  dataSource, resources, typeDefs = '', resolvers = {}, defaultLimit = 100, maxLimit = 1000,
  capture = 'orm', outbox: outboxOptions, pubsub, subscriberQueueLimit, visibilityKey,
}: BuildSchemaOptions): LiveSchema {
  if (!['orm', 'database', 'none'].includes(capture)) throw new SchemaDefinitionError(`capture must be 'orm', 'database' or 'none', not ${JSON.stringify(capture)}`);
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
  const engine = new LiveEngine({ dataSource, models, pubsub, queueLimit: subscriberQueueLimit, visibilityKey });
  const schema = makeExecutableSchema({
    typeDefs: [parts.join('\n\n'), typeDefs].filter(Boolean),
    resolvers: [{ DateTime, JSON: JSONScalar }, generated, subscriptionResolvers(models, engine), resolvers],
  });
  // Capture starts last, so a schema error leaves no subscriber behind on the DataSource.
  // In database capture the ORM subscriber records nothing: it only holds
  // custom events until their transaction commits.
  const orm = capture !== 'none' && dataSource.isInitialized
    ? startOrmCapture(dataSource, capture === 'orm' ? models.map((m) => m.metadata.target) : [], (changes) => void engine.ingest(changes))
    : undefined;
  const tables = models.map((m) => m.metadata);
  const outbox = capture === 'database' && dataSource.isInitialized
    ? new OutboxReader(dataSource, tables, (changes) => engine.ingest(changes), outboxOptions)
    : undefined;
  if (outbox) engine.useChangeLog(outbox);
  const ready = outbox
    ? (async () => {
      if (outboxOptions?.install !== false) await installOutbox(dataSource, tables, outboxOptions);
      await outbox.start();
    })()
    : Promise.resolve();
  // Callers that never await `ready` must not crash the process on a failed start.
  ready.catch(() => undefined);
  return {
    schema,
    models,
    engine,
    createContext: (user) => ({ user, dataSource, loaders: new Map() }),
    publishEvent: (name, payload, row, manager) => {
      const model = models.find((m) => m.options.events && name in m.options.events);
      if (!model) return Promise.reject(new Error(`No resource declares the event "${name}"`));
      const publish = () => engine.publishEvent(model, name, payload, row);
      if (orm && manager?.queryRunner?.isTransactionActive) {
        // Goes out at commit; a rollback drops it.
        orm.defer(manager.queryRunner, () => void publish());
        return Promise.resolve();
      }
      return publish();
    },
    capture,
    outbox,
    ready,
    close: async () => {
      if (orm) stopOrmCapture(orm, dataSource);
      if (outbox) await ready.catch(() => undefined).then(() => outbox.stop());
      await engine.idle();
      engine.close();
    },
  };
}
