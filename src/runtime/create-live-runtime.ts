import type { GraphQLSchema } from 'graphql';
import type { DataSource, EntityManager } from 'typeorm';
import { OutboxReader, type OutboxOptions } from '../capture/database/reader';
import { installOutbox, outboxTables } from '../capture/database/migration';
import { startOrmCapture, stopOrmCapture } from '../capture/orm/subscriber';
import type { AuthUser, LiveContext } from '../define/context';
import type { Resource } from '../define/resource';
import { LiveError, reportBackgroundError, SchemaDefinitionError } from '../errors';
import { LiveEngine, type LiveEngineOptions } from '../live/engine';
import type { LiveEvent } from '../live/events';
import { ModelRegistry } from '../model/registry';
import type { ResourceModel } from '../model/resource-model';
import type { RowChange } from '../change/row-change';
import type { PubSub } from '../pubsub/types';
import type { ChangeTransport } from '../transport/change-transport';
import { buildSchema } from '../schema/build-schema';
import { Releasers } from './releasers';
import { boundStatements } from './statement-timeout';

export type CaptureMode = 'orm' | 'database' | 'none';

export interface LiveRuntimeOptions {
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
  /** Characters a String input field takes unless its column or resource says otherwise; default 10,000. Over it: BAD_USER_INPUT. */
  maxTextLength?: number;
  /** Characters a String value of a list filter takes; default 1,000. Over it: BAD_USER_INPUT. */
  maxFilterLength?: number;
  /**
   * PostgreSQL's `statement_timeout` for every connection of `dataSource`, in
   * ms: a request's statement that runs longer is cancelled and the client
   * gets TIMEOUT. Applies to everything on this DataSource, capture's reads
   * included (they are paged). 0 leaves the connections as they are.
   * Default 10,000.
   */
  statementTimeout?: number;
  /**
   * Where changes come from.
   * - `'orm'` (default): a TypeORM entity subscriber sees every write made
   *   through this DataSource's repositories and managers, published after
   *   commit. Raw SQL, QueryBuilder bulk writes and other services are not
   *   seen (use `bulkUpdate`/`bulkDelete`); `after` cursors are not offered.
   * - `'database'`: triggers write every committed change of the exposed
   *   tables to an outbox table that this process tails (NOTIFY + polling).
   *   Sees every write from anywhere, and subscribers can resume with
   *   `after: cursor`. Starts asynchronously: await `ready`.
   * - `'none'`: nothing is captured (call `engine.ingest` yourself).
   */
  capture?: CaptureMode;
  /** Database capture: outbox schema, polling, LISTEN, retention; see {@link OutboxOptions}. */
  outbox?: OutboxOptions & {
    /** Create the outbox and triggers at start (idempotent); default true. Off when you apply `print-migration` yourself. */
    install?: boolean;
  };
  /** How routed events reach subscribers; default in-process. */
  pubsub?: PubSub<LiveEvent>;
  /**
   * ORM capture with several server processes: carries every process's
   * committed changes to every process (`redisTransport(dataSource)`, one
   * Redis stream), which routes them for its own subscribers. Without it,
   * each process's subscribers see only the writes made through that
   * process. Database capture needs none: every process tails the outbox.
   */
  transport?: ChangeTransport;
  /** Events an SSE (or in-process) subscriber may have queued before it is ended with SLOW_CONSUMER; default 1000. */
  subscriberQueueLimit?: number;
  /** See {@link LiveEngineOptions.bufferBytes}; default 1 MiB. */
  subscriberBufferBytes?: number;
  /** See {@link LiveEngineOptions.visibilityKey}. */
  visibilityKey?: LiveEngineOptions['visibilityKey'];
  /** See {@link LiveEngineOptions.maxGroupValues}. */
  maxGroupValues?: number;
  /** Resuming with `after`: transactions a cursor may be behind what has been routed; further back, CURSOR_EXPIRED. Default 10,000. */
  maxReplayTransactions?: number;
  /** Errors of background work (capture, routing, delivery); default {@link reportBackgroundError}. */
  onError?: (error: unknown) => void;
}

export interface LiveRuntime {
  schema: GraphQLSchema;
  /** The resolved resources. */
  models: readonly ResourceModel[];
  /** A fresh per-request/per-operation context for a caller (whose credential ends at `expiresAt`, if given). */
  createContext(user: AuthUser | null, expiresAt?: number): LiveContext;
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
  /** Stops capture and ends every subscription: what was started, in reverse order. */
  close(): Promise<void>;
}

/**
 * The composition root: resources → models → engine → schema, then change
 * capture feeding the engine. `close()` releases all of it in reverse.
 *
 * @example
 * const live = createLiveRuntime({ dataSource, resources: [tasks], capture: 'database' });
 * await live.ready;
 * const server = await serveLiveSchema(live, { authenticate });
 */
export function createLiveRuntime({
  dataSource, resources, typeDefs, resolvers, defaultLimit = 100, maxLimit = 1000, maxTextLength, maxFilterLength, statementTimeout = 10_000,
  capture = 'orm', outbox: outboxOptions, pubsub, transport, subscriberQueueLimit, subscriberBufferBytes, visibilityKey, maxGroupValues, maxReplayTransactions, onError = reportBackgroundError,
}: LiveRuntimeOptions): LiveRuntime {
  if (!['orm', 'database', 'none'].includes(capture)) throw new SchemaDefinitionError(`capture must be 'orm', 'database' or 'none', not ${JSON.stringify(capture)}`);
  if (dataSource.entityMetadatas.length === 0) throw new SchemaDefinitionError('createLiveRuntime needs an initialized DataSource (its entity metadata is empty)');
  if (transport && capture !== 'orm') throw new SchemaDefinitionError(`transport carries ORM-captured changes; with capture '${capture}' every process reads the outbox itself`);
  const models = ModelRegistry.build(dataSource, resources, { maxTextLength, maxFilterLength });
  const tables = models.all.map((m) => m.metadata);
  const releasers = new Releasers();
  const unbound = boundStatements(dataSource, statementTimeout);
  if (unbound) releasers.add(unbound);
  // The engine needs its capture's row history, the capture needs the engine as its sink (called only once writes come).
  const ingest = (changes: RowChange[]): Promise<void> => engine.ingest(changes);
  // Changes missed (a transport or an outbox that lost some): reported, and every subscription ends with CHANGES_LOST.
  const lose = (reason: string): void => {
    onError(new LiveError('CHANGES_LOST', `changes may have been missed: ${reason}`));
    engine.loseChanges(reason);
  };
  // In database capture the ORM subscriber records nothing: it only holds
  // custom events until their transaction commits.
  const orm = capture !== 'none' && dataSource.isInitialized
    ? startOrmCapture(dataSource, capture === 'orm' ? models.all.map((m) => m.metadata.target) : [], transport ? (changes) => transport.publish(changes) : (changes) => void ingest(changes))
    : undefined;
  if (orm) releasers.add(() => stopOrmCapture(orm, dataSource));
  if (transport && orm) transport.onDropped = (changes) => changes.forEach((change) => orm.routed(change));
  const outbox = capture === 'database' && dataSource.isInitialized
    ? new OutboxReader(dataSource, tables, ingest, { onError, onLost: (reason) => lose(reason), ...outboxOptions })
    : undefined;
  const history = capture === 'orm' ? orm : outbox?.history;
  const engine = new LiveEngine({ dataSource, models, history, pubsub, queueLimit: subscriberQueueLimit, bufferBytes: subscriberBufferBytes, visibilityKey, maxGroupValues, maxReplayTransactions, onError });
  releasers.add(() => engine.close());
  releasers.add(() => engine.idle());
  let schema: GraphQLSchema;
  try {
    schema = buildSchema(models, engine, { defaultLimit, maxLimit }, { typeDefs, resolvers });
  } catch (error) {
    // A schema error leaves nothing behind on the DataSource.
    void releasers.release();
    throw error;
  }
  let ready = Promise.resolve();
  if (transport) {
    ready = transport.start(ingest, lose);
    releasers.add(() => transport.close());
  }
  if (outbox) {
    engine.useChangeLog(outbox);
    ready = (async () => {
      if (outboxOptions?.install !== false) await installOutbox(dataSource, outboxTables(models.all), outboxOptions);
      await outbox.start();
    })();
    releasers.add(() => ready.catch(() => undefined).then(() => outbox.stop()));
  }
  // Callers that never await `ready` must not crash the process on a failed start.
  ready.catch(() => undefined);

  return {
    schema,
    models: models.all,
    engine,
    createContext: (user, expiresAt) => (expiresAt === undefined ? { user, dataSource, loaders: new Map() } : { user, dataSource, loaders: new Map(), expiresAt }),
    publishEvent: (name, payload, row, manager) => {
      const model = models.withEvent(name);
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
    close: () => releasers.release(),
  };
}

/** The options of {@link createLiveRuntime} under their earlier name. */
export type BuildSchemaOptions = LiveRuntimeOptions;
/** {@link LiveRuntime} under its earlier name. */
export type LiveSchema = LiveRuntime;
/** {@link createLiveRuntime} under its earlier name. */
export const buildLiveSchema = createLiveRuntime;
