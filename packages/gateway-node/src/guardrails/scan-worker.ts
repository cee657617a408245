/**
 * The scan worker: runs a chain over a large text off the event loop (`offload.ts`). Guardrails
 * are compiled here from their documents and kept while the same documents keep coming.
 */
import { parentPort } from 'node:worker_threads';
import { scanLocal } from './chain.js';
import { type CompiledGuardrail, compileGuardrail, type GuardrailDoc } from './compile.js';

export interface ScanRequest {
  readonly n: number;
  readonly chain: readonly { readonly id: string; readonly doc: GuardrailDoc }[];
  /** The text follows in this many `ScanPart` messages. */
  readonly parts: number;
}

export interface ScanPart {
  readonly n: number;
  readonly part: string;
}

const compiled = new Map<string, CompiledGuardrail | undefined>();
const open = new Map<number, { req: ScanRequest; parts: string[] }>();

function get(id: string, doc: GuardrailDoc): CompiledGuardrail | undefined {
  const key = `${id}\u0001${JSON.stringify(doc)}`;
  if (!compiled.has(key)) {
    if (compiled.size >= 256) compiled.clear();
    compiled.set(key, compileGuardrail(id, doc));
  }
  return compiled.get(key);
}

function run(req: ScanRequest, text: string): void {
  try {
    const chain: CompiledGuardrail[] = [];
    for (const s of req.chain) {
      const g = get(s.id, s.doc);
      if (g !== undefined) chain.push(g);
    }
    parentPort?.postMessage({ n: req.n, outcomes: scanLocal(chain, text) });
  } catch (err) {
    parentPort?.postMessage({ n: req.n, error: String(err) });
  }
}

parentPort?.on('message', (m: ScanRequest | ScanPart) => {
  if ('chain' in m) {
    open.set(m.n, { req: m, parts: [] });
    return;
  }
  const o = open.get(m.n);
  if (o === undefined) return;
  o.parts.push(m.part);
  if (o.parts.length < o.req.parts) return;
  open.delete(m.n);
  run(o.req, o.parts.join(''));
});
