/**
 * A mock OTLP/HTTP collector for tests: a real node:http server on 127.0.0.1:0 recording every
 * POST (path, headers, raw bytes, parsed JSON) and answering with a scriptable status, or not at
 * all (`hang`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OtlpSpan } from '../tracing/otlp.js';

export interface ExportRequest {
  readonly resourceSpans: {
    readonly resource: { readonly attributes: { key: string; value: { stringValue?: string } }[] };
    readonly scopeSpans: { readonly scope: { name: string; version: string }; readonly spans: OtlpSpan[] }[];
  }[];
}

export interface Post {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly body: ExportRequest | undefined;
}

export interface MockCollector {
  readonly url: string;
  readonly posts: Post[];
  /** Every span of every accepted POST, in arrival order. */
  spans(): OtlpSpan[];
  /** Status for the next POSTs: a number, or `hang` (never answer). Consumed front to back; the last one sticks. */
  respond(...statuses: (number | 'hang')[]): void;
  /** Resolves once at least `n` spans have arrived (rejects after `ms`). */
  waitForSpans(n: number, ms?: number): Promise<OtlpSpan[]>;
  /** Forgets recorded posts and spans, answers 200 again. */
  reset(): void;
  close(): Promise<void>;
}

export async function startMockCollector(): Promise<MockCollector> {
  const posts: Post[] = [];
  const accepted: OtlpSpan[] = [];
  let script: (number | 'hang')[] = [200];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: ExportRequest | undefined;
      try {
        body = JSON.parse(raw) as ExportRequest;
      } catch {
        body = undefined;
      }
      posts.push({ url: req.url ?? '', headers: req.headers, raw, body });
      const status = script.length > 1 ? (script.shift() as number | 'hang') : (script[0] ?? 200);
      if (status === 'hang') return;
      if (status >= 200 && status < 300 && body)
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) accepted.push(...ss.spans);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    spans: () => accepted.slice(),
    respond(...s) {
      script = s;
    },
    async waitForSpans(n, ms = 5000) {
      const until = Date.now() + ms;
      while (accepted.length < n) {
        if (Date.now() > until)
          throw new Error(`collector: ${accepted.length} spans after ${ms} ms, wanted ${n}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return accepted.slice();
    },
    reset() {
      posts.length = 0;
      accepted.length = 0;
      script = [200];
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
