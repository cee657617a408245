/**
 * A mock OTLP/HTTP collector for tests: a real node:http server on 127.0.0.1:0 recording every
 * POST (path, headers, raw bytes, the body decoded with the official OpenTelemetry definitions)
 * and answering with a scriptable status (optionally with headers, e.g. `Retry-After`), or not at
 * all (`hang`).
 *
 * Every body goes through `decodeOtlpJsonTraces` (@aisix/testkit/otlp). One the official reader
 * refuses is answered 400 (as a collector would) and recorded in `decodeErrors`; `spans()` and
 * `waitForSpans` then throw with the reason, so no test can pass on a malformed payload.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type DecodedSpan,
  type DecodedTraceRequest,
  decodedSpans,
  decodeOtlpJsonTraces,
} from '@aisix/testkit/otlp';

export interface Post {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** The official decoding; undefined when it refused the body (see `decodeErrors`). */
  readonly body: DecodedTraceRequest | undefined;
}

export interface MockCollector {
  readonly url: string;
  readonly posts: Post[];
  /** Why the official decoder refused a body, one entry per refused POST. */
  readonly decodeErrors: string[];
  /** Every span of every accepted POST, in arrival order (throws if any body was refused). */
  spans(): DecodedSpan[];
  /**
   * Status for the next POSTs: a number, a status with response headers, or `hang` (never
   * answer). Consumed front to back; the last one sticks.
   */
  respond(...statuses: Answer[]): void;
  /** Resolves once at least `n` spans have arrived (rejects after `ms`). */
  waitForSpans(n: number, ms?: number): Promise<DecodedSpan[]>;
  /** Forgets recorded posts and spans, answers 200 again. */
  reset(): void;
  close(): Promise<void>;
}

/** One scripted answer of the collector. */
export type Answer = number | 'hang' | { readonly status: number; readonly headers: Record<string, string> };

export async function startMockCollector(): Promise<MockCollector> {
  const posts: Post[] = [];
  const decodeErrors: string[] = [];
  const accepted: DecodedSpan[] = [];
  const checked = () => {
    if (decodeErrors.length > 0) throw new Error(`collector: refused a body: ${decodeErrors[0]}`);
    return accepted.slice();
  };
  let script: Answer[] = [200];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: DecodedTraceRequest | undefined;
      try {
        body = decodeOtlpJsonTraces(raw);
      } catch (e) {
        decodeErrors.push((e as Error).message);
      }
      posts.push({ url: req.url ?? '', headers: req.headers, raw, body });
      if (body === undefined) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'malformed ExportTraceServiceRequest' }));
        return;
      }
      const answer = script.length > 1 ? (script.shift() as Answer) : (script[0] ?? 200);
      if (answer === 'hang') return;
      const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
      if (status >= 200 && status < 300) accepted.push(...decodedSpans(body));
      res.writeHead(status, { ...headers, 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    decodeErrors,
    spans: checked,
    respond(...s) {
      script = s;
    },
    async waitForSpans(n, ms = 5000) {
      const until = Date.now() + ms;
      while (checked().length < n) {
        if (Date.now() > until)
          throw new Error(`collector: ${accepted.length} spans after ${ms} ms, wanted ${n}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return accepted.slice();
    },
    reset() {
      const refused = decodeErrors.splice(0);
      posts.length = 0;
      accepted.length = 0;
      script = [200];
      if (refused.length > 0) throw new Error(`collector: refused a body: ${refused[0]}`);
    },
    close() {
      server.closeAllConnections();
      if (decodeErrors.length > 0) {
        server.close();
        return Promise.reject(new Error(`collector: refused a body: ${decodeErrors[0]}`));
      }
      return new Promise((r) => server.close(() => r()));
    },
  };
}
