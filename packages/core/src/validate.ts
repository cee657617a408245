/**
 * The two entry points over the resource schemas. `validateWrite` (Admin API, file) runs the
 * strict form and returns the canonical document to store; `parseRead` (etcd reads) runs the
 * lenient form and reports unknown fields instead of rejecting them.
 *
 * Only the first failing location is reported, and messages are rendered from the schema
 * side of an issue (expected type, bound, pattern, field name), never from the submitted
 * value: a mistyped secret must not end up in a 400 body, a log line or `/status/config`.
 */
import * as v from 'valibot';
import { type KindDef, type KindName, kindByName } from './kinds.js';
import { isRuleMessage, withUnknownRecording } from './resources/common.js';

export type WriteValidation =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; pointer: string; message: string };

export type ReadValidation =
  | { ok: true; value: Record<string, unknown>; unknownFields: string[] }
  | { ok: false; errorKind: 'schema_failed' | 'parse_failed'; message: string };

/** Marks issues that carry valibot's default message (which would quote the value). */
const DEFAULT_MESSAGE = '\u0000default';
const CONFIG = { abortEarly: true, message: () => DEFAULT_MESSAGE } as const;

function defOf(kind: KindName | KindDef): KindDef {
  const def = typeof kind === 'string' ? kindByName(kind) : kind;
  if (def === undefined) throw new Error(`unknown resource kind "${String(kind)}"`);
  return def;
}

function escapePointer(key: unknown): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

function quoteKey(key: unknown): string {
  const s = String(key);
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

interface Rendered {
  /** True for typed-decode/kind-rule failures, reported as their own text. */
  readonly rule: boolean;
  readonly pointer: string;
  readonly message: string;
}

function describe(issue: v.BaseIssue<unknown>): string {
  const expected = issue.expected ?? '';
  const req = issue.requirement;
  const bound = typeof req === 'number' || typeof req === 'string' ? String(req) : '';
  switch (issue.type) {
    case 'min_length':
      return `length must be >= ${bound}`;
    case 'max_length':
      return `length must be <= ${bound}`;
    case 'min_value':
      return `must be >= ${bound}`;
    case 'max_value':
      return `must be <= ${bound}`;
    case 'integer':
      return 'must be an integer';
    case 'finite':
      return 'must be a finite number';
    case 'regex':
      return `must match pattern ${String(req)}`;
    case 'picklist':
    case 'literal':
      return `must be one of ${expected}`;
    default:
      return issue.kind === 'schema'
        ? `invalid type: expected ${expected}`
        : `invalid value: expected ${expected}`;
  }
}

function render(issue: v.BaseIssue<unknown>): Rendered {
  if (issue.message !== DEFAULT_MESSAGE && isRuleMessage(issue.message)) {
    return { rule: true, pointer: '', message: issue.message };
  }
  const path = issue.path ?? [];
  const last = path[path.length - 1];
  let keys = path.map((p) => p.key);
  let text: string;
  if (last !== undefined && last.origin === 'key') {
    // Missing required field or unknown field: point at the object, name the field.
    keys = keys.slice(0, -1);
    text =
      issue.expected === 'never'
        ? `unknown field ${quoteKey(last.key)}`
        : `${quoteKey(last.key)} is a required property`;
  } else {
    text = issue.message === DEFAULT_MESSAGE ? describe(issue) : issue.message;
  }
  const pointer = keys.map((k) => `/${escapePointer(k)}`).join('');
  return { rule: false, pointer, message: `schema validation failed at ${pointer}: ${text}` };
}

/** Strict validation of a document written through the Admin API or a resources file. */
export function validateWrite(kind: KindName | KindDef, input: unknown): WriteValidation {
  const r = v.safeParse(defOf(kind).writeSchema, input, CONFIG);
  if (r.success) return { ok: true, value: r.output as Record<string, unknown> };
  const first = render(r.issues[0]);
  return { ok: false, pointer: first.pointer, message: first.message };
}

/** Lenient read of a stored document: unknown fields are kept and listed (`a.b[].c`). */
export function parseRead(kind: KindName | KindDef, input: unknown): ReadValidation {
  return lenientRead(kind, input, false);
}

/**
 * What the gateway serves of a stored document: the lenient read (defaults filled, aliases
 * folded) without the unknown fields its typed decode ignores, listed as by `parseRead`.
 * `aisix export` writes this, so a YELLOW document exports as the gateway serves it.
 */
export function parseServed(kind: KindName | KindDef, input: unknown): ReadValidation {
  return lenientRead(kind, input, true);
}

function lenientRead(kind: KindName | KindDef, input: unknown, dropUnknown: boolean): ReadValidation {
  const def = defOf(kind);
  const { result: r, unknown } = withUnknownRecording(() => v.safeParse(def.readSchema, input, CONFIG));
  if (!r.success) {
    const first = render(r.issues[0]);
    return { ok: false, errorKind: first.rule ? 'parse_failed' : 'schema_failed', message: first.message };
  }
  const value = r.output as Record<string, unknown>;
  const unknownFields: string[] = [];
  if (unknown.size === 0) return { ok: true, value, unknownFields };
  collectUnknown(value, '', unknown, new Set(), unknownFields);
  if (!dropUnknown) return { ok: true, value, unknownFields };
  return { ok: true, value: withoutUnknown(value, unknown) as Record<string, unknown>, unknownFields };
}

function withoutUnknown(node: unknown, unknown: ReadonlyMap<object, readonly string[]>): unknown {
  if (Array.isArray(node)) return node.map((item) => withoutUnknown(item, unknown));
  if (typeof node !== 'object' || node === null) return node;
  const extra = unknown.get(node) ?? [];
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => !extra.includes(k))
      .map(([k, child]) => [k, withoutUnknown(child, unknown)]),
  );
}

function collectUnknown(
  node: unknown,
  path: string,
  unknown: ReadonlyMap<object, readonly string[]>,
  seen: Set<string>,
  out: string[],
): void {
  if (Array.isArray(node)) {
    for (const item of node) collectUnknown(item, `${path}[]`, unknown, seen, out);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const extra = unknown.get(node);
  for (const [k, child] of Object.entries(node)) {
    const p = path === '' ? k : `${path}.${k}`;
    if (extra?.includes(k)) {
      if (!seen.has(p)) {
        seen.add(p);
        out.push(p);
      }
    } else collectUnknown(child, p, unknown, seen, out);
  }
}
