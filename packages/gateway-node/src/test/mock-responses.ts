/**
 * Mock-upstream behaviours that speak the OpenAI Responses wire (`POST /v1/responses`): a
 * response object and its SSE event stream, shaped like OpenAI's. They plug into
 * `startMockUpstream` from `mock-upstream.ts`.
 */
import { json, type MockBehaviour, type SeenRequest, sleep } from './mock-upstream.js';

export const RESPONSES_USAGE = {
  input_tokens: 11,
  input_tokens_details: { cached_tokens: 2 },
  output_tokens: 6,
  output_tokens_details: { reasoning_tokens: 1 },
  total_tokens: 17,
};

const served = (req: SeenRequest) => `${String(req.json?.model)}-2024`;

export function responseObject(
  req: SeenRequest,
  text: string,
  status = 'completed',
): Record<string, unknown> {
  return {
    id: 'resp_up_1',
    object: 'response',
    created_at: 1741476777,
    status,
    error: null,
    incomplete_details: null,
    instructions: req.json?.instructions ?? null,
    model: served(req),
    output:
      status === 'in_progress'
        ? []
        : [
            {
              type: 'message',
              id: 'msg_up_1',
              status: 'completed',
              role: 'assistant',
              content: [{ type: 'output_text', text, annotations: [] }],
            },
          ],
    parallel_tool_calls: true,
    store: false,
    tool_choice: 'auto',
    tools: [],
    usage: status === 'in_progress' ? null : RESPONSES_USAGE,
    metadata: {},
  };
}

export function responsesJson(text = 'Hi from Responses'): MockBehaviour {
  return (req, res) => json(res, 200, responseObject(req, text));
}

function ev(type: string, seq: number, fields: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...fields })}\n\n`;
}

export function responsesEvents(req: SeenRequest, words: readonly string[]): string[] {
  const item = { item_id: 'msg_up_1', output_index: 0, content_index: 0 };
  const text = words.join('');
  let seq = 0;
  return [
    ev('response.created', seq++, { response: responseObject(req, '', 'in_progress') }),
    ev('response.in_progress', seq++, { response: responseObject(req, '', 'in_progress') }),
    ev('response.output_item.added', seq++, {
      output_index: 0,
      item: { type: 'message', id: 'msg_up_1', status: 'in_progress', role: 'assistant', content: [] },
    }),
    ev('response.content_part.added', seq++, {
      ...item,
      part: { type: 'output_text', text: '', annotations: [] },
    }),
    ...words.map((w) => ev('response.output_text.delta', seq++, { ...item, delta: w })),
    ev('response.output_text.done', seq++, { ...item, text }),
    ev('response.content_part.done', seq++, {
      ...item,
      part: { type: 'output_text', text, annotations: [] },
    }),
    ev('response.completed', seq++, { response: responseObject(req, text) }),
  ];
}

/** `cutAfter`: end the response cleanly after that many events (no terminal event). */
export function responsesSse(
  words: readonly string[] = ['Hel', 'lo'],
  gapMs = 0,
  cutAfter = Number.POSITIVE_INFINITY,
): MockBehaviour {
  return async (req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.flushHeaders();
    for (const e of responsesEvents(req, words).slice(0, cutAfter)) {
      if (gapMs) await sleep(gapMs);
      if (res.destroyed) return;
      res.write(e);
    }
    res.end();
  };
}

/** A stream whose terminal event is `response.failed` (after the text), carrying `error`. */
export function responsesFailedSse(
  words: readonly string[],
  error: { readonly code: string; readonly message: string },
): MockBehaviour {
  return (req, res) => {
    const events = responsesEvents(req, words);
    const failed = { ...responseObject(req, words.join(''), 'failed'), error };
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events.slice(0, -1)) res.write(e);
    res.end(ev('response.failed', events.length - 1, { response: failed }));
  };
}
