/**
 * Test helpers: reads a dialect's recorded fixtures from the source tree (fixtures are not copied
 * into `dist`, so compiled tests resolve them relative to the package root), parses and cuts
 * SSE, and relays a stream through an adapter's translator.
 */
import { readFileSync } from 'node:fs';
import type { ProviderAdapter } from '../../contract.js';

export function fixtures(dialect: 'anthropic' | 'responses') {
  const dir = new URL(`../../../../src/dialects/${dialect}/fixtures/`, import.meta.url);
  const text = (name: string) => readFileSync(new URL(name, dir), 'utf8');
  return { text, json: <T = Record<string, unknown>>(name: string) => JSON.parse(text(name)) as T };
}

/** Parses caller-side SSE text into `{event, data}` pairs (data parsed as JSON). */
export function parseSse(text: string): { event: string | undefined; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((f) => f.trim() !== '' && !f.startsWith(':'))
    .map((f) => {
      const lines = f.split('\n');
      const ev = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6) ?? '{}';
      return { event: ev, data: JSON.parse(data) as Record<string, unknown> };
    });
}

/** Splits a buffer into chunks of `size` bytes (to cut frames and UTF-8 characters anywhere). */
export function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/**
 * Feeds `input` to a new stream translator of `adapter` (chat, `alias`, no usage chunk) in chunks
 * of `size` bytes, then ends it: what the caller would get, and the translator to inspect.
 */
export function relayStream(adapter: ProviderAdapter, alias: string, input: Buffer, size: number) {
  const tr = adapter.createStreamTranslator({
    endpoint: 'chat',
    alias,
    forwardUsageChunk: false,
  });
  let out = '';
  for (const c of chunks(input, size)) out += tr.push(c);
  out += tr.end();
  return { out, tr };
}
