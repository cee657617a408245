/**
 * A mock upstream that keeps request bodies as raw bytes (multipart uploads with binary audio
 * would not survive the UTF-8 decoding `mock-upstream.ts` does), plus a helper that parses a
 * recorded multipart body with undici's own `Response.formData()`, an implementation independent
 * of the gateway's parser.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Docs, sha256, standardDocs } from './fixtures.js';

export interface RawRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly raw: Buffer;
}

export type RawBehaviour = (req: RawRequest, res: ServerResponse) => void | Promise<void>;

export interface RawUpstream {
  readonly url: string;
  readonly requests: RawRequest[];
  handle(b: RawBehaviour): void;
  close(): Promise<void>;
}

export async function startRawUpstream(initial: RawBehaviour): Promise<RawUpstream> {
  let behaviour = initial;
  const requests: RawRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        raw: Buffer.concat(chunks),
      };
      requests.push(seen);
      Promise.resolve(behaviour(seen, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    handle(b) {
      behaviour = b;
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export function sendJsonBody(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Parses a recorded multipart body (undici's parser, not the gateway's). */
export function readForm(req: RawRequest): Promise<FormData> {
  return new Response(new Uint8Array(req.raw), {
    headers: { 'content-type': String(req.headers['content-type']) },
  }).formData();
}

/** A small mono 16-bit PCM WAV (a sine), ~`ms` long at 8 kHz. */
export function wav(ms = 100): Buffer {
  const rate = 8000;
  const samples = Math.round((rate * ms) / 1000);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin(i / 3) * 20000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

export const EXT_KEY = 'sk-ext-caller';

/**
 * The standard fixture plus the passthrough models: each alias maps to a distinct upstream id so
 * a test can see the rewrite; `*-retry` has one same-target retry, `*-slow` a 300 ms deadline.
 */
export function extendedDocs(upstreamUrl: string): Docs {
  const m = (display_name: string, model_name: string, extra: Record<string, unknown> = {}) => ({
    display_name,
    provider: 'openai',
    model_name,
    provider_key_id: 'pk1',
    ...extra,
  });
  return standardDocs(upstreamUrl, {
    provider_keys: {
      pkant: {
        display_name: 'ant',
        api_key: 'sk-ant-upstream',
        provider: 'anthropic',
        api_base: upstreamUrl,
      },
    },
    models: {
      rr: m('rr', 'rerank-v3'),
      rrretry: m('rr-retry', 'rerank-v3', { retries: 1 }),
      rrslow: m('rr-slow', 'rerank-v3', { timeout: 300 }),
      img: m('img', 'dall-e-3'),
      tts: m('tts', 'tts-1'),
      stt: m('stt', 'whisper-1'),
      sttretry: m('stt-retry', 'whisper-1', { retries: 1 }),
      ipm: m('ip-model', 'whisper-1', { allowed_cidrs: ['10.0.0.0/8'] }),
      ant: {
        display_name: 'claude',
        provider: 'anthropic',
        model_name: 'claude-x',
        provider_key_id: 'pkant',
      },
      grp: { display_name: 'ext-grp', routing: { strategy: 'failover', targets: [{ model: 'rr' }] } },
    },
    api_keys: {
      kext: {
        key_hash: sha256(EXT_KEY),
        allowed_models: [
          'rr',
          'rr-retry',
          'rr-slow',
          'img',
          'tts',
          'stt',
          'stt-retry',
          'ip-model',
          'claude',
          'ext-grp',
          'nope',
        ],
      },
    },
  });
}
