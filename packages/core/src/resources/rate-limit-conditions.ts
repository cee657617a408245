/**
 * Condition trees and suspension schedules of `rate_limit_policies`, plus the semantic
 * checks the schema cannot express: nesting depth, leaf count, which operators suit which
 * dimension, value shapes and regex size/compilation. A failure here is reported exactly
 * like a schema failure (400 on write, RED on read), pointing at the offending node.
 */
import * as v from 'valibot';
import { isPlainObject, type Mode, nonEmpty, obj, pathItem, type Schema } from './common.js';
import { re2 } from './re2.js';

export const CONDITION_DIMENSIONS = ['team', 'member', 'api_key', 'model', 'model_name', 'provider'] as const;
const STRING_DIMENSIONS: ReadonlySet<string> = new Set(['model_name', 'provider']);
const OPERATORS = ['==', '~=', 'in', '~~', '~*'] as const;
const RESERVED_OPERATORS = ['has', '>', '>=', '<', '<=', 'ipmatch'] as const;

export const MAX_CONDITION_DEPTH = 3;
export const MAX_CONDITION_LEAVES = 16;
export const MAX_IN_VALUES = 64;
export const MAX_REGEX_CHARS = 256;

export type ConditionDimension = (typeof CONDITION_DIMENSIONS)[number];
export type ConditionOperator = (typeof OPERATORS)[number] | (typeof RESERVED_OPERATORS)[number];

export interface ConditionLeaf {
  dimension: ConditionDimension;
  operator: ConditionOperator;
  value: string | string[];
  negate?: boolean | undefined;
}

export interface ConditionGroup {
  logic: 'and' | 'or';
  children: ConditionNode[];
  negate?: boolean | undefined;
}

export type ConditionNode = ConditionLeaf | ConditionGroup;

/**
 * The reserved operators pass the picklist so they get their own "reserved" message from the
 * semantic check; an unknown operator's message lists only the supported ones.
 */
const OPERATOR_MESSAGE = `must be one of (${OPERATORS.map((o) => JSON.stringify(o)).join(' | ')})`;

export function conditionNodeSchema(mode: Mode): Schema<unknown, ConditionNode> {
  const leaf = obj(mode, {
    dimension: v.picklist(CONDITION_DIMENSIONS),
    operator: v.picklist([...OPERATORS, ...RESERVED_OPERATORS], OPERATOR_MESSAGE),
    value: v.union([v.string(), v.array(v.string())]),
    negate: v.optional(v.boolean()),
  });
  const group = obj(mode, {
    logic: v.picklist(['and', 'or']),
    children: v.pipe(v.array(v.lazy(() => node)), v.minLength(1)),
    negate: v.optional(v.boolean()),
  });
  const isGroup = (x: unknown) => isPlainObject(x) && ('logic' in x || 'children' in x);
  const node: v.GenericSchema = v.lazy((x) => (isGroup(x) ? group : leaf));
  return node as Schema<unknown, ConditionNode>;
}

type Path = (string | number)[];
interface SemanticIssue {
  path: Path;
  message: string;
}

/**
 * Condition regexes run on every request, against values a caller can choose (the upstream
 * name behind a wildcard alias), so they use RE2's linear-time engine, as the reference's Rust
 * `regex` crate does: a JavaScript RegExp such as `^(a+)+$` backtracks exponentially and would
 * block the event loop. The engine the gateway runs is the one that judges the syntax.
 */
export function compileConditionRegex(source: string, caseInsensitive: boolean): (s: string) => boolean {
  const RE2JS = re2();
  const re = RE2JS.compile(source, caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0);
  return (s) => re.test(s);
}

function regexCompiles(source: string, caseInsensitive: boolean): boolean {
  try {
    compileConditionRegex(source, caseInsensitive);
    return true;
  } catch {
    return false;
  }
}

function leafIssue(leaf: ConditionLeaf): SemanticIssue | null {
  const op = leaf.operator;
  if ((RESERVED_OPERATORS as readonly string[]).includes(op)) {
    return { path: ['operator'], message: 'operator is reserved and not supported' };
  }
  const isRegex = op === '~~' || op === '~*';
  if (isRegex && !STRING_DIMENSIONS.has(leaf.dimension)) {
    return {
      path: ['operator'],
      message: 'regex operators apply only to the model_name and provider dimensions',
    };
  }
  if (op === 'in') {
    const ok =
      Array.isArray(leaf.value) &&
      leaf.value.length >= 1 &&
      leaf.value.length <= MAX_IN_VALUES &&
      leaf.value.every((s) => s !== '');
    return ok
      ? null
      : { path: ['value'], message: `"in" takes a list of 1..${MAX_IN_VALUES} non-empty strings` };
  }
  if (typeof leaf.value !== 'string' || leaf.value === '') {
    return { path: ['value'], message: 'operator takes one non-empty string' };
  }
  if (isRegex) {
    if (leaf.value.length > MAX_REGEX_CHARS) {
      return { path: ['value'], message: `regex must be at most ${MAX_REGEX_CHARS} characters` };
    }
    if (!regexCompiles(leaf.value, op === '~*'))
      return {
        path: ['value'],
        message: 'regex does not compile (RE2 syntax: no backreferences or lookaround)',
      };
  }
  return null;
}

/** First semantic problem in a condition list (depth-first), with its path below `conditions`. */
export function conditionsIssue(nodes: readonly ConditionNode[]): SemanticIssue | null {
  let leaves = 0;
  const visit = (list: readonly ConditionNode[], depth: number, base: Path): SemanticIssue | null => {
    for (const [i, n] of list.entries()) {
      const here = [...base, i];
      if (depth > MAX_CONDITION_DEPTH) {
        return { path: here, message: `conditions nest deeper than ${MAX_CONDITION_DEPTH} levels` };
      }
      if ('children' in n) {
        const inner = visit(n.children, depth + 1, [...here, 'children']);
        if (inner !== null) return inner;
        continue;
      }
      leaves += 1;
      if (leaves > MAX_CONDITION_LEAVES) {
        return { path: here, message: `conditions have more than ${MAX_CONDITION_LEAVES} leaves` };
      }
      const issue = leafIssue(n);
      if (issue !== null) return { path: [...here, ...issue.path], message: issue.message };
    }
    return null;
  };
  return visit(nodes, 1, []);
}

/** Raw-check action reporting `conditionsIssue` at its exact pointer. */
export function conditionsCheck<T extends { conditions?: ConditionNode[] | undefined }>() {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed || dataset.value.conditions === undefined) return;
    const issue = conditionsIssue(dataset.value.conditions);
    if (issue === null) return;
    const path = ['conditions', ...issue.path].map((k) => pathItem(k, undefined));
    addIssue({ message: issue.message, path: path as [v.UnknownPathItem, ...v.UnknownPathItem[]] });
  });
}

// ---------------------------------------------------------------------------------------------
// Schedules

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const zoneCache = new Map<string, boolean>();

/** IANA zone names only (no raw offsets); resolved by the runtime's ICU data, cached. */
export function isIanaTimeZone(tz: string): boolean {
  const hit = zoneCache.get(tz);
  if (hit !== undefined) return hit;
  let ok = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz);
  if (ok) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
    } catch {
      ok = false;
    }
  }
  if (zoneCache.size < 1024) zoneCache.set(tz, ok);
  return ok;
}

function isCalendarDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m === null) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d;
}

export function scheduleSchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      timezone: v.pipe(nonEmpty, v.check(isIanaTimeZone, 'timezone must be an IANA time zone name')),
      start_time: v.pipe(v.string(), v.regex(HHMM, 'start_time must be HH:MM')),
      end_time: v.pipe(
        v.string(),
        v.check((s) => s === '24:00' || HHMM.test(s), 'end_time must be HH:MM or 24:00'),
      ),
      days_of_week: v.optional(v.pipe(v.array(v.picklist(DAYS)), v.minLength(1))),
      dates: v.optional(
        v.pipe(
          v.array(v.pipe(v.string(), v.check(isCalendarDate, 'dates must be YYYY-MM-DD'))),
          v.minLength(1),
        ),
      ),
    }),
    v.check(
      (s) => (s.days_of_week === undefined) !== (s.dates === undefined),
      'a schedule has exactly one of "days_of_week" or "dates"',
    ),
  );
}
