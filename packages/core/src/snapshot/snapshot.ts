/**
 * The published, read-only `ConfigSnapshot` over one builder state. Every index is a sealed
 * map, resources and their documents are frozen, and the object itself is frozen: requests
 * read it without locks, and the next snapshot shares whatever did not change.
 */
import type { KindName } from '../kinds.js';
import { EMPTY_MAP } from './frozen.js';
import { INITIAL_STATE, type State } from './state.js';
import { buildStatus } from './status.js';
import type { ConfigSnapshot, Resource, SnapshotStatus } from './types.js';

class Snapshot implements ConfigSnapshot {
  readonly loaded: boolean;
  readonly revision: number;
  readonly modelsByAlias: ReadonlyMap<string, Resource<'models'>>;
  readonly wildcardModels: readonly Resource<'models'>[];
  readonly apiKeysByHash: ReadonlyMap<string, Resource<'api_keys'>>;
  readonly status: SnapshotStatus;
  readonly #state: State;

  constructor(state: State, now: number) {
    this.#state = state;
    this.loaded = state.loaded;
    this.revision = state.revision;
    this.modelsByAlias = state.modelsByAlias;
    this.wildcardModels = state.wildcardModels;
    this.apiKeysByHash = (state.names.get('api_keys') ?? EMPTY_MAP) as ReadonlyMap<
      string,
      Resource<'api_keys'>
    >;
    this.status = buildStatus(state, now);
    Object.freeze(this);
  }

  byId<K extends KindName>(kind: K): ReadonlyMap<string, Resource<K>> {
    return (this.#state.byId.get(kind) ?? EMPTY_MAP) as ReadonlyMap<string, Resource<K>>;
  }

  byName<K extends KindName>(kind: K, name: string): Resource<K> | undefined {
    return this.#state.names.get(kind)?.get(name) as Resource<K> | undefined;
  }
}

export function snapshotOf(state: State, now: number): ConfigSnapshot {
  return new Snapshot(state, now);
}

const EMPTY: ConfigSnapshot = new Snapshot(INITIAL_STATE, 0);

/** The snapshot served before the first apply: nothing served, `loaded` false, state `never_loaded`. */
export function emptySnapshot(): ConfigSnapshot {
  return EMPTY;
}
