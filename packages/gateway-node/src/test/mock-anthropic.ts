/**
 * Mock-upstream behaviours that speak the Anthropic Messages wire (for the `/v1/messages` native
 * passthrough and the Anthropic family bridge): a JSON message, an SSE event stream shaped like
 * Anthropic's (message_start, ping, content blocks, message_delta, message_stop), token counting,
 * and Anthropic error bodies. They plug into `startMockUpstream` from `mock-upstream.ts`.
 */
import type { ServerResponse } from 'node:http';
import { json, type MockBehaviour, type SeenRequest, sleep } from './mock-upstream.js';

export const ANTHROPIC_USAGE = {
  input_tokens: 21,
  output_tokens: 5,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 3,
};

/** The upstream names the model it served with a dated suffix, like Anthropic does. */
const served = (req: SeenRequest) => `${String(req.json?.model)}-20250101`;

export function anthropicMessage(req: SeenRequest, text = 'Hi from Claude'): Record<string, unknown> {
  return {
    id: 'msg_up_1',
    type: 'message',
    role: 'assistant',
    model: served(req),
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: ANTHROPIC_USAGE,
  };
}

export function anthropicJson(text?: string): MockBehaviour {
  return (req, res) => {
    if (req.url.endsWith('/count_tokens')) return json(res, 200, { input_tokens: 42 });
    json(res, 200, anthropicMessage(req, text));
  };
}

export function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

export interface AnthropicSseScript {
  readonly words?: readonly string[];
  readonly gapMs?: number;
  /** Destroy the socket after this many text deltas. */
  readonly dropAfter?: number;
  /** End the response cleanly after this many text deltas (no message_stop). */
  readonly cutAfter?: number;
  /** Send an in-band `error` event after the text instead of closing normally. */
  readonly inBandError?: boolean;
}

export function anthropicSseEvents(req: SeenRequest, words: readonly string[]): string[] {
  const start = {
    ...anthropicMessage(req),
    content: [],
    stop_reason: null,
    usage: { ...ANTHROPIC_USAGE, output_tokens: 1 },
  };
  return [
    event('message_start', { type: 'message_start', message: start }),
    event('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
    event('ping', { type: 'ping' }),
    ...words.map((w) =>
      event('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: w },
      }),
    ),
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: ANTHROPIC_USAGE.output_tokens },
    }),
    event('message_stop', { type: 'message_stop' }),
  ];
}

/**
 * A stream whose first text delta carries `text` and never gets its closing blank line: the
 * upstream keeps the response open until `release` is called (which ends the event and the body).
 */
export function unterminatedAnthropicEvent(text: string): { behaviour: MockBehaviour; release(): void } {
  let end: (() => void) | undefined;
  return {
    behaviour: (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of anthropicSseEvents(req, []).slice(0, 2)) res.write(e);
      const delta = { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } };
      const data = JSON.stringify(delta);
      // Everything but the closing `"}}` of the JSON and the blank line.
      res.write(`event: content_block_delta\ndata: ${data.slice(0, -3)}`);
      end = () => res.end(`${data.slice(-3)}\n\n`);
    },
    release: () => end?.(),
  };
}

export function anthropicSse(script: AnthropicSseScript = {}): MockBehaviour {
  return async (req, res) => {
    const words = script.words ?? ['Hel', 'lo', '!'];
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.flushHeaders();
    const events = anthropicSseEvents(req, words);
    const body = script.inBandError
      ? [
          ...events.slice(0, 3 + words.length),
          event('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
        ]
      : events;
    let deltas = 0;
    for (const e of body) {
      if (script.gapMs) await sleep(script.gapMs);
      if (res.destroyed) return;
      res.write(e);
      if (!e.startsWith('event: content_block_delta')) continue;
      deltas++;
      if (script.cutAfter !== undefined && deltas >= script.cutAfter) break;
      if (script.dropAfter !== undefined && deltas >= script.dropAfter) {
        await sleep(20);
        res.socket?.destroy();
        return;
      }
    }
    res.end();
  };
}

export function anthropicError(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  json(res, status, { type: 'error', error: { type, message } }, headers);
}
