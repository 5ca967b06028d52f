/**
 * typeorm-graphql-live: what applications write and the types they touch.
 * The embedded PostgreSQL is `typeorm-graphql-live/embedded`; building
 * blocks without a stability promise are `typeorm-graphql-live/internals`.
 */

// Describing resources
export { resource } from './define/resource';
export type { Action, CustomAction, GroupFn, ListFilter, Resource, ResourceOptions, RowPolicy } from './define/resource';
export { allowAny, and, denyAll, isAuthenticated, not, or } from './define/permissions';
export type { FieldRule, Permission } from './define/permissions';
export type { Authenticate, AuthUser, Identity, LiveContext } from './define/context';
export { defineApp } from './define/app';
export type { AppSetup, LiveApp } from './define/app';

// Errors
export {
  BadUserInputError, ForbiddenError, LiveError, NotFoundError, SchemaDefinitionError, UnauthenticatedError, reportBackgroundError,
} from './errors';
export type { ErrorCode } from './errors';

// Running it
export { createLiveServer } from './server/create-live-server';
export type { LiveSchemaServer, LiveServerOptions } from './server/create-live-server';
export { serveLiveSchema } from './server/serve';
export type { LiveServer, NodeServerContext, ServedSchema, ServeOptions } from './server/serve';
export type { Revalidate } from './server/revalidation';
export { redisTransport, type RedisTransportOptions } from './transport/redis-streams';
export type { ChangeTransport, TransportState } from './transport/change-transport';
export { buildLiveSchema, createLiveRuntime } from './runtime/create-live-runtime';
export type { BuildSchemaOptions, CaptureMode, LiveRuntime, LiveRuntimeOptions, LiveSchema } from './runtime/create-live-runtime';

// What a runtime hands back
export type { LiveEngine, LiveEngineOptions } from './live/engine';
export type { ChangeAction, ChangePayload, LiveEvent } from './live/events';
export type { FieldModel, ResourceModel } from './model/resource-model';
export type { TypeNames } from './model/names';
export type { Cursor } from './change/cursor';
export type { RowChange, RowOp } from './change/row-change';

// Capture
export { bulkDelete, bulkUpdate } from './capture/orm/bulk';
export { installOutbox, outboxMigrationSQL, outboxTables, type OutboxTable } from './capture/database/migration';
export type { OutboxOptions, OutboxReader } from './capture/database/reader';
export type { OutboxRetention } from './capture/database/retention';

// Transports between processes
export { inProcessPubSub } from './pubsub/in-process';
export type { PubSub } from './pubsub/types';
