export * from './define';
export * from './errors';
export { buildLiveSchema, type BuildSchemaOptions, type LiveSchema } from './schema/build';
export { names, typeNames } from './schema/names';
export { matches, relationPaths } from './policy/evaluate';
export { both, normalize, toFindWhere, evaluatePolicy, type Condition } from './policy/where';
