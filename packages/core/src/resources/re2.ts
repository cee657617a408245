/**
 * RE2's linear-time engine (re2js), loaded on first use: only guardrails with operator-written
 * regexes need it, and its ~250 KB of source would otherwise sit in every process's heap from
 * startup. Loaded synchronously (its CommonJS build) because compiling and validating are
 * synchronous.
 */
import { createRequire } from 'node:module';
import type * as Re2 from 're2js';

let loaded: typeof Re2 | undefined;

export function re2(): typeof Re2.RE2JS {
  loaded ??= createRequire(import.meta.url)('re2js') as typeof Re2;
  return loaded.RE2JS;
}
