/**
 * Config hashes for `/status/config`: SHA-256 over entries sorted by key, each contributing
 * `key + 0x00 + canonical JSON + "\n"`. Canonical JSON sorts object keys recursively and
 * drops whitespace, so two writers that serialise the same document differently (key
 * order, indentation) produce the same hash; a value that is not JSON is hashed as its raw
 * bytes. Leaves out: which entries count (source vs config hash) — the builder decides.
 */
import { createHash } from 'node:crypto';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Canonical JSON text of a parsed JSON value. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  // Default sort is by UTF-16 code unit, which matches byte order for the BMP; keys
  // outside it are rare enough in resource documents that we accept the difference.
  const keys = Object.keys(obj).sort();
  const parts: string[] = [];
  for (const k of keys) parts.push(`${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${parts.join(',')}}`;
}

/**
 * The bytes one entry contributes to a hash. Returns a string when the value is JSON (the
 * common case; hashed as UTF-8) and raw bytes otherwise.
 */
export function hashLine(key: string, value: Uint8Array): string | Uint8Array {
  let text: string;
  try {
    text = canonicalJson(JSON.parse(utf8.decode(value)));
  } catch {
    const head = Buffer.from(`${key}\u0000`, 'utf8');
    return Buffer.concat([head, value, Buffer.from('\n')]);
  }
  return `${key}\u0000${text}\n`;
}

/** Hash lines that are already in key order. Small string lines are batched: one update per line is slow at 100k entries. */
export function sha256Lines(lines: Iterable<string | Uint8Array>): string {
  const h = createHash('sha256');
  let batch = '';
  for (const line of lines) {
    if (typeof line === 'string') {
      batch += line;
      if (batch.length > 1 << 20) {
        h.update(batch, 'utf8');
        batch = '';
      }
    } else {
      if (batch.length > 0) h.update(batch, 'utf8');
      batch = '';
      h.update(line);
    }
  }
  if (batch.length > 0) h.update(batch, 'utf8');
  return h.digest('hex');
}
