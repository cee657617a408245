/** The gateway version: the `version` of this package's package.json, read once at startup. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function aisixVersion(): string {
  if (cached !== undefined) return cached;
  // dist/src/version.js -> ../../package.json is packages/cli/package.json.
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const v = (JSON.parse(text) as { version?: unknown }).version;
  cached = typeof v === 'string' ? v : '0.0.0';
  return cached;
}
