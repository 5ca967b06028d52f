/**
 * `typeorm-graphql-live/internals`: the building blocks behind the public
 * entry, for benchmarks, tests and advanced integrations. UNSTABLE: these
 * names and signatures change without a major version.
 */

// Models and names
export { ModelRegistry } from './model/registry';
export { buildModel } from './model/resource-model';
export { names, typeNames, camel, pluralize } from './model/names';
export { parseId } from './model/ids';

// Row policies: one condition for SQL and for memory
export { both, evaluatePolicy, normalize, toFindWhere, type Condition } from './policy/where';
export { matches, matchesValue, relationPaths, sameValue } from './policy/evaluate';
export { conditionFor, policyFor, refusal } from './policy/access';

// Changes and their log
export { afterTransaction, formatCursor, parseCursor } from './change/cursor';
export type { ChangeLog, LoggedTransaction } from './change/change-log';
export { collapse, snapshot, type ChangeSink } from './change/row-change';
export { carryDeletedParents } from './change/cascade';

// Capture
export { OutboxReader } from './capture/database/reader';
export { startOrmCapture, stopOrmCapture, OrmCapture } from './capture/orm/subscriber';

// Live delivery
export { LiveEngine } from './live/engine';
export { topic, groupValues } from './live/topics';
export { SKIP, type Verdict } from './live/verdict';
export { DeliveryClass, type DeliveryClassOptions } from './live/delivery/delivery-class';
export { DirectMember } from './live/delivery/direct-member';
export { DIRECT_DELIVERY, directTargetOf, type DirectTarget } from './live/delivery/direct-target';
export { BoundedQueue } from './live/delivery/bounded-queue';
export { operationKey } from './live/operation-key';

// Schema
export { buildSchema } from './schema/build-schema';

// Serving
export { Revalidation, type Revocable } from './server/revalidation';
