/**
 * `SemanticIndex`: the in-memory vector index of the semantic layer (data-plane §10.5). It maps
 * an embedding of the prompt to the exact-layer key of an answer already cached, so a paraphrase
 * can be answered from the exact store.
 *
 * Per policy: at most `maxEntries` vectors across all partitions, least recently added or hit
 * evicted first (Map insertion order). Inside a policy, vectors are grouped by partition
 * (`scopeKey`: same model, parameters, caller key, purge generation, embedding model) and a
 * query only scans its own partition. Vectors are normalised once at insert, so a query is one
 * normalisation plus a dot product per candidate: a linear scan over Float32Arrays, which stays
 * in the low milliseconds at the 10 000-vector bound and needs no index structure to keep up.
 */

export interface SemanticMatch {
  /** The exact-layer key of the neighbour's answer. */
  readonly exactKey: string;
  /** Cosine similarity, in [-1, 1]. */
  readonly similarity: number;
}

interface Item {
  readonly partition: string;
  readonly exactKey: string;
  /** Unit length. */
  readonly vec: Float32Array;
  readonly expiresAt: number;
}

interface PolicyIndex {
  /** Recency order over every item of the policy, keyed `partition \0 exactKey`. */
  readonly lru: Map<string, Item>;
  readonly partitions: Map<string, Map<string, Item>>;
}

/** Default per-policy bound (`semantic.max_entries`). */
const DEFAULT_MAX_ENTRIES = 1000;
/**
 * Float32 storage rounds a unit vector's components, so a vector compared with itself can score
 * 0.99999994: similarities this close to the threshold count as reaching it (threshold 1 keeps
 * matching identical prompts).
 */
const EPSILON = 1e-6;

/** A copy scaled to unit length, or undefined for a zero / non-finite vector (matches nothing). */
function normalise(v: Float32Array): Float32Array | undefined {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (!(sum > 0) || !Number.isFinite(sum)) return undefined;
  const inv = 1 / Math.sqrt(sum);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}

/** Dot product, four lanes unrolled (the scan's whole cost). */
function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + s2 + s3;
}

export class SemanticIndex {
  private readonly policies = new Map<string, PolicyIndex>();

  /**
   * Adds (or replaces) the vector of an exact entry. `maxEntries` is the policy's bound (its
   * `semantic.max_entries`); the oldest vectors of the policy are evicted beyond it. A zero or
   * non-finite vector is ignored.
   */
  add(
    policyId: string,
    partition: string,
    vector: Float32Array,
    exactKey: string,
    expiresAtMs: number,
    maxEntries = DEFAULT_MAX_ENTRIES,
  ): void {
    const vec = normalise(vector);
    if (vec === undefined) return;
    let p = this.policies.get(policyId);
    if (p === undefined) {
      p = { lru: new Map(), partitions: new Map() };
      this.policies.set(policyId, p);
    }
    const id = `${partition}\0${exactKey}`;
    const old = p.lru.get(id);
    if (old !== undefined) this.remove(p, id, old);
    const item: Item = { partition, exactKey, vec, expiresAt: expiresAtMs };
    p.lru.set(id, item);
    let part = p.partitions.get(partition);
    if (part === undefined) {
      part = new Map();
      p.partitions.set(partition, part);
    }
    part.set(exactKey, item);
    const bound = Math.max(1, maxEntries);
    while (p.lru.size > bound) {
      const first = p.lru.entries().next();
      if (first.done) break;
      this.remove(p, first.value[0], first.value[1]);
    }
  }

  /**
   * The most similar live vector of the partition with similarity ≥ `threshold`, or undefined.
   * Expired vectors met on the way are dropped. Only vectors of the query's dimension are
   * compared: a different embedding model (or dimensions setting) never matches. A hit counts
   * as a use for the LRU order.
   */
  nearest(
    policyId: string,
    partition: string,
    vector: Float32Array,
    threshold: number,
    nowMs: number,
  ): SemanticMatch | undefined {
    const p = this.policies.get(policyId);
    const part = p?.partitions.get(partition);
    if (p === undefined || part === undefined) return undefined;
    const q = normalise(vector);
    if (q === undefined) return undefined;
    const dim = q.length;
    let best: Item | undefined;
    let bestSim = -Infinity;
    for (const item of part.values()) {
      if (item.expiresAt <= nowMs) {
        this.remove(p, `${partition}\0${item.exactKey}`, item);
        continue;
      }
      if (item.vec.length !== dim) continue;
      const sim = dot(q, item.vec);
      if (sim > bestSim) {
        bestSim = sim;
        best = item;
      }
    }
    if (best === undefined || bestSim < threshold - EPSILON) return undefined;
    const id = `${partition}\0${best.exactKey}`;
    p.lru.delete(id);
    p.lru.set(id, best);
    return { exactKey: best.exactKey, similarity: Math.min(1, Math.max(-1, bestSim)) };
  }

  /** Forgets one vector (e.g. its exact entry turned out gone or corrupt). */
  delete(policyId: string, partition: string, exactKey: string): void {
    const p = this.policies.get(policyId);
    const id = `${partition}\0${exactKey}`;
    const item = p?.lru.get(id);
    if (p !== undefined && item !== undefined) this.remove(p, id, item);
  }

  /** Drops the vectors of policies not in `policyIds` (call on a config change). */
  retainPolicies(policyIds: Iterable<string>): void {
    const keep = new Set(policyIds);
    for (const id of this.policies.keys()) if (!keep.has(id)) this.policies.delete(id);
  }

  /** Vectors held for one policy, or for all. */
  size(policyId?: string): number {
    if (policyId !== undefined) return this.policies.get(policyId)?.lru.size ?? 0;
    let n = 0;
    for (const p of this.policies.values()) n += p.lru.size;
    return n;
  }

  private remove(p: PolicyIndex, id: string, item: Item): void {
    p.lru.delete(id);
    const part = p.partitions.get(item.partition);
    if (part === undefined) return;
    part.delete(item.exactKey);
    if (part.size === 0) p.partitions.delete(item.partition);
  }
}
