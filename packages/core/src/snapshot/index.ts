export { type ObservedState, SnapshotBuilder, type SnapshotBuilderOptions } from './builder.js';
export { MAX_UNKNOWN_FIELDS_PER_ROW } from './classify.js';
export { canonicalJson } from './hash.js';
export { type ResolvedModel, resolveModel } from './resolve.js';
export { emptySnapshot } from './snapshot.js';
export { rfc3339 } from './status.js';
export type * from './types.js';
