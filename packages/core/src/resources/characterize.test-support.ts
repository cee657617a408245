/**
 * Table runner for the schema characterization tests: each row is a labelled document with
 * what the strict write path and the lenient read path must do with it. Test-only; not
 * re-exported from the package.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KindName } from '../kinds.js';
import { parseRead, validateWrite } from '../validate.js';

export type WriteExpect =
  | { ok: true; has?: Record<string, unknown>; lacks?: string[] }
  | { ok: false; pointer: string; contains: string };
export type ReadExpect =
  | { ok: true; unknown: string[] }
  | { ok: false; errorKind: 'schema_failed' | 'parse_failed' };

export interface Row {
  label: string;
  doc: unknown;
  write: WriteExpect;
  read: ReadExpect;
}

/** Accepted; `has` lists top-level fields the stored value must equal (defaults, aliases). */
export const accepted = (has?: Record<string, unknown>, lacks?: string[]): WriteExpect => ({
  ok: true,
  ...(has ? { has } : {}),
  ...(lacks ? { lacks } : {}),
});
export const rejected = (pointer: string, contains: string): WriteExpect => ({
  ok: false,
  pointer,
  contains,
});
export const green: ReadExpect = { ok: true, unknown: [] };
export const yellow = (...unknown: string[]): ReadExpect => ({ ok: true, unknown });
export const red: ReadExpect = { ok: false, errorKind: 'schema_failed' };
export const redParse: ReadExpect = { ok: false, errorKind: 'parse_failed' };

export function runTable(kind: KindName, rows: readonly Row[]): void {
  for (const row of rows) {
    test(`${kind} write: ${row.label}`, () => {
      const r = validateWrite(kind, structuredClone(row.doc));
      const w = row.write;
      if (w.ok) {
        assert.ok(r.ok, `expected accept, got: ${r.ok ? '' : r.message}`);
        for (const [k, v] of Object.entries(w.has ?? {})) assert.deepEqual(r.value[k], v, `field ${k}`);
        for (const k of w.lacks ?? []) assert.ok(!(k in r.value), `stored value must not have ${k}`);
        assert.ok(!('id' in r.value), 'stored value never carries id');
      } else {
        assert.ok(!r.ok, 'expected reject');
        assert.equal(r.pointer, w.pointer);
        assert.ok(r.message.includes(w.contains), `message "${r.message}" should contain "${w.contains}"`);
      }
    });
    test(`${kind} read: ${row.label}`, () => {
      const r = parseRead(kind, structuredClone(row.doc));
      const e = row.read;
      if (e.ok) {
        assert.ok(r.ok, `expected served, got: ${r.ok ? '' : r.message}`);
        assert.deepEqual([...r.unknownFields].sort(), [...e.unknown].sort());
      } else {
        assert.ok(!r.ok, 'expected RED');
        assert.equal(r.errorKind, e.errorKind);
      }
    });
  }
}
