/**
 * Condition trees of conditional `rate_limit_policies` (data-plane §9.5), compiled once per
 * snapshot into plain predicate closures: regexes built once, `in` lists turned into sets.
 *
 * Leaf `{dimension, operator, value, negate?}`: `==`, `~=` (not equal), `in`, `~~` (regex),
 * `~*` (case-insensitive regex; regexes search, unanchored, like the reference's
 * `Regex::is_match`). A leaf on a dimension the request lacks (no team, no provider...) is
 * false, and then `negate` applies. Group `{logic: and|or, children, negate?}`. The top-level
 * list is an implicit AND; an empty or absent list matches every request.
 *
 * Regexes run on RE2's linear-time engine (`compileConditionRegex`), never a backtracking one.
 *
 * Core already validated the trees; anything malformed that still reaches us makes the
 * compile return an error string, and the planner skips that policy instead of throwing.
 */

import { compileConditionRegex } from '@aisix/core';

export const CONDITION_DIMS = ['team', 'member', 'api_key', 'model', 'model_name', 'provider'] as const;
export type ConditionDim = (typeof CONDITION_DIMS)[number];

/** The dimension values of one evaluation (model ones from the requested or target model). */
export interface DimValues {
  readonly team: string | undefined;
  readonly member: string | undefined;
  readonly api_key: string;
  readonly model: string | undefined;
  readonly model_name: string | undefined;
  readonly provider: string | undefined;
}

export type Predicate = (d: DimValues) => boolean;

export interface CompiledConditions {
  readonly test: Predicate;
  /** Dimensions the tree reads (decides whether the policy follows the routing target). */
  readonly dims: ReadonlySet<ConditionDim>;
}

const DIMS: ReadonlySet<string> = new Set(CONDITION_DIMS);
const REGEX_DIMS: ReadonlySet<string> = new Set(['model_name', 'provider']);
const MAX_DEPTH = 8;

class Invalid extends Error {}

function leaf(o: Record<string, unknown>, dims: Set<ConditionDim>): Predicate {
  const dim = o.dimension;
  if (typeof dim !== 'string' || !DIMS.has(dim)) throw new Invalid('unknown condition dimension');
  const d = dim as ConditionDim;
  dims.add(d);
  const neg = o.negate === true;
  const value = o.value;
  let hit: (x: string) => boolean;
  switch (o.operator) {
    case '==':
    case '~=': {
      if (typeof value !== 'string') throw new Invalid(`operator ${o.operator} needs one string`);
      hit = o.operator === '==' ? (x) => x === value : (x) => x !== value;
      break;
    }
    case 'in': {
      if (!Array.isArray(value) || value.length === 0 || !value.every((s) => typeof s === 'string'))
        throw new Invalid('operator in needs a list of strings');
      const set = new Set<string>(value as string[]);
      hit = (x) => set.has(x);
      break;
    }
    case '~~':
    case '~*': {
      if (!REGEX_DIMS.has(d)) throw new Invalid('regex operators apply to model_name and provider only');
      if (typeof value !== 'string') throw new Invalid('regex operators need one string');
      try {
        // RE2 (linear time): a caller picks the value tested (a wildcard alias's upstream name).
        hit = compileConditionRegex(value, o.operator === '~*');
      } catch {
        throw new Invalid('regex does not compile');
      }
      break;
    }
    default:
      throw new Invalid('unsupported condition operator');
  }
  return (v) => {
    const x = v[d];
    const r = x === undefined ? false : hit(x);
    return neg ? !r : r;
  };
}

function node(n: unknown, dims: Set<ConditionDim>, depth: number): Predicate {
  if (typeof n !== 'object' || n === null || Array.isArray(n))
    throw new Invalid('condition is not an object');
  if (depth > MAX_DEPTH) throw new Invalid('conditions nest too deep');
  const o = n as Record<string, unknown>;
  if (!('children' in o) && !('logic' in o)) return leaf(o, dims);
  if (!Array.isArray(o.children) || o.children.length === 0) throw new Invalid('a group needs children');
  const kids = o.children.map((c) => node(c, dims, depth + 1));
  const neg = o.negate === true;
  let test: Predicate;
  if (o.logic === 'and') test = all(kids);
  else if (o.logic === 'or') {
    test = (v) => {
      for (const k of kids) if (k(v)) return true;
      return false;
    };
  } else throw new Invalid('group logic must be and/or');
  return neg ? (v) => !test(v) : test;
}

function all(kids: readonly Predicate[]): Predicate {
  if (kids.length === 1) return kids[0] as Predicate;
  return (v) => {
    for (const k of kids) if (!k(v)) return false;
    return true;
  };
}

const always: Predicate = () => true;

/** Compiles the top-level list (implicit AND); a string is the reason it is unusable. */
export function compileConditions(raw: unknown): CompiledConditions | string {
  const dims = new Set<ConditionDim>();
  if (raw === undefined || raw === null) return { test: always, dims };
  if (!Array.isArray(raw)) return 'conditions is not a list';
  if (raw.length === 0) return { test: always, dims };
  try {
    return { test: all(raw.map((n) => node(n, dims, 1))), dims };
  } catch (err) {
    if (err instanceof Invalid) return err.message;
    throw err;
  }
}
