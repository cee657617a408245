/**
 * A scriptable mock upstream for tests: a real node:http server on 127.0.0.1:0 whose behaviour
 * per request is a function, with helpers for the faults the gateway must survive (error bodies,
 * delays, SSE with pauses, dropped connections). Records every request and notices when a
 * client socket closes, so tests can assert that the gateway aborted an upstream call.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly json: Record<string, unknown> | undefined;
}

export type MockBehaviour = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

export interface MockUpstream {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** Replaces the behaviour for subsequent requests. */
  handle(b: MockBehaviour): void;
  /** Resolves when a socket that carried a request closes. */
  nextSocketClose(): Promise<void>;
  close(): Promise<void>;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function parse(body: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function startMockUpstream(initial: MockBehaviour = chatJson()): Promise<MockUpstream> {
  let behaviour = initial;
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let closeWaiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const sock = req.socket;
    if (!sockets.has(sock)) {
      sockets.add(sock);
      sock.once('close', () => {
        sockets.delete(sock);
        const w = closeWaiters;
        closeWaiters = [];
        for (const f of w) f();
      });
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        json: parse(body),
      };
      requests.push(seen);
      Promise.resolve(behaviour(seen, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(b) {
      behaviour = b;
    },
    nextSocketClose() {
      return new Promise((r) => closeWaiters.push(r));
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

export function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export const USAGE = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };

/** A chat completion echoing the upstream model it was asked for. */
export function chatJson(content = 'Hello!'): MockBehaviour {
  return (req, res) =>
    json(res, 200, {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1700000000,
      model: `${String(req.json?.model)}-2024`,
      choices: [
        { index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' },
        {
          index: 1,
          message: { role: 'assistant', content: 'second' },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      system_fingerprint: 'fp_mock',
      usage: USAGE,
    });
}

export function chunk(model: string, delta: object, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

export interface SseScript {
  readonly words?: readonly string[];
  /** Delay between events (ms). */
  readonly gapMs?: number;
  /** Delay before the first event (ms). */
  readonly firstDelayMs?: number;
  /** Destroy the socket after this many content events (no [DONE]). */
  readonly dropAfter?: number;
  /** Omit the final usage chunk even when include_usage was asked. */
  readonly noUsage?: boolean;
}

/** An SSE chat stream: role chunk, one chunk per word, finish, usage (when asked), [DONE]. */
export function chatSse(script: SseScript = {}): MockBehaviour {
  return async (req, res) => {
    const model = `${String(req.json?.model)}-2024`;
    const words = script.words ?? ['Hel', 'lo', '!'];
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    if (script.firstDelayMs) await sleep(script.firstDelayMs);
    res.write(chunk(model, { role: 'assistant', content: '' }));
    for (let i = 0; i < words.length; i++) {
      if (script.gapMs) await sleep(script.gapMs);
      if (res.destroyed) return;
      res.write(chunk(model, { content: words[i] }));
      if (script.dropAfter !== undefined && i + 1 >= script.dropAfter) {
        await sleep(20);
        res.socket?.destroy();
        return;
      }
    }
    res.write(chunk(model, {}, 'stop'));
    const so = req.json?.stream_options as { include_usage?: boolean } | undefined;
    if (so?.include_usage && !script.noUsage) {
      res.write(
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1700000000, model, choices: [], usage: USAGE })}\n\n`,
      );
    }
    res.end('data: [DONE]\n\n');
  };
}

/**
 * Answers each model endpoint's upstream path in its own wire shape — Anthropic messages,
 * Responses, embeddings, legacy completions, else chat — unary or SSE as the body it received
 * asked (`stream`): for tests that send one request per endpoint family through one upstream.
 */
export const everyEndpoint: MockBehaviour = (req, res) => {
  const stream = req.json?.stream === true;
  if (req.url.endsWith('/v1/messages')) {
    if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"a","usage":{"input_tokens":1,"output_tokens":0}}}\n\n' +
          'event: message_stop\ndata: {"type":"message_stop"}\n\n',
      );
      return;
    }
    return json(res, 200, {
      id: 'm',
      type: 'message',
      role: 'assistant',
      model: 'a',
      content: [{ type: 'text', text: 'hi' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 1, output_tokens: 1 },
    });
  }
  if (req.url.endsWith('/responses')) {
    const done = {
      id: 'r',
      object: 'response',
      status: 'completed',
      model: 'x',
      output: [],
      usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
    };
    if (!stream) return json(res, 200, done);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: done })}\n\n`,
    );
    return;
  }
  if (req.url.endsWith('/embeddings')) {
    return json(res, 200, {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.1] }],
      model: 'e',
      usage: { prompt_tokens: 1, total_tokens: 1 },
    });
  }
  if (req.url.endsWith('/v1/completions')) {
    return json(res, 200, {
      id: 'c',
      object: 'text_completion',
      created: 1,
      model: 'x',
      choices: [{ index: 0, text: 'hi', finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  }
  return stream ? chatSse()(req, res) : chatJson('hi')(req, res);
};
