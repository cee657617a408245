/**
 * Test helper: reads the Gemini wire fixtures from the source tree (they are not copied into
 * `dist`, so the compiled tests resolve them relative to the package root).
 */
import { readFileSync } from 'node:fs';

const DIR = new URL('../../../src/gemini/fixtures/', import.meta.url);

export function fixtureText(name: string): string {
  return readFileSync(new URL(name, DIR), 'utf8');
}

export function fixtureJson<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}
