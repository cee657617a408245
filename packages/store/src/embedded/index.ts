/**
 * The embedded config store: durable, single-process, no etcd. See `store.ts`.
 */
export {
  type EmbeddedRecovery,
  type EmbeddedStore,
  type EmbeddedStoreOptions,
  openEmbeddedStore,
} from './store.js';
