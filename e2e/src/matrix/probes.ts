/**
 * What a mock upstream received, read back in its own wire format: the user text, the tool
 * declaration (turn one) and the assistant tool call + tool result history (turn two). One probe
 * per wire; the assertions say what the real provider API requires.
 */
import assert from 'node:assert/strict';
import { TOOL_ARGS, TOOL_NAME, TOOL_PARAMETERS, TOOL_RESULT, TOOL_RESULT_OBJ } from '../fixtures/scenario.js';

type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const objs = (v: unknown): Obj[] => arr(v).filter(isObj);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

export interface WireProbe {
  readonly wire: 'openai-chat' | 'openai-responses' | 'anthropic' | 'gemini' | 'converse';
  /** Texts of the user turns, in order. */
  userTexts(body: Obj): string[];
  /** Turn one: the function tool reached the upstream in this wire's shape. */
  assertTools(body: Obj): void;
  /**
   * Turn two: the assistant's tool call and the tool result reached the upstream, in order, in
   * this wire's shape. `callId` is the id the upstream itself gave the call (undefined when its
   * wire has no ids: then only the function name links them).
   */
  assertToolRoundTrip(body: Obj, callId: string | undefined): void;
}

/** Text of a content that is a string or an array of text-ish parts. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return objs(content)
    .map((p) => str(p.text))
    .join('');
}

export const openAiChatProbe: WireProbe = {
  wire: 'openai-chat',
  userTexts: (b) =>
    objs(b.messages)
      .filter((m) => m.role === 'user')
      .map((m) => textOf(m.content)),
  assertTools(b) {
    const t = objs(b.tools)[0];
    assert.ok(t, `no tools sent upstream: ${JSON.stringify(b.tools)}`);
    assert.equal(t.type, 'function');
    assert.ok(isObj(t.function));
    assert.equal(t.function.name, TOOL_NAME);
    assert.deepEqual(plain(t.function.parameters), plain(TOOL_PARAMETERS));
  },
  assertToolRoundTrip(b, callId) {
    const msgs = objs(b.messages);
    const ai = msgs.findIndex((m) => m.role === 'assistant' && arr(m.tool_calls).length > 0);
    assert.ok(ai >= 0, `no assistant tool_calls upstream: ${JSON.stringify(msgs)}`);
    const tc = objs(msgs[ai]?.tool_calls)[0] ?? {};
    assert.equal(tc.type, 'function');
    assert.ok(isObj(tc.function));
    assert.equal(tc.function.name, TOOL_NAME);
    assert.deepEqual(JSON.parse(str(tc.function.arguments)), plain(TOOL_ARGS));
    if (callId !== undefined) assert.equal(tc.id, callId);
    const tool = msgs[ai + 1];
    assert.ok(tool, 'no message after the assistant tool call');
    assert.equal(tool.role, 'tool');
    assert.equal(tool.tool_call_id, tc.id);
    assert.equal(textOf(tool.content), TOOL_RESULT);
  },
};

export const responsesProbe: WireProbe = {
  wire: 'openai-responses',
  userTexts(b) {
    if (typeof b.input === 'string') return [b.input];
    return objs(b.input)
      .filter((i) => i.role === 'user')
      .map((i) => textOf(i.content));
  },
  assertTools(b) {
    const t = objs(b.tools)[0];
    assert.ok(t, `no tools sent upstream: ${JSON.stringify(b.tools)}`);
    assert.equal(t.type, 'function');
    assert.equal(t.name, TOOL_NAME);
    assert.deepEqual(plain(t.parameters), plain(TOOL_PARAMETERS));
  },
  assertToolRoundTrip(b, callId) {
    const items = objs(b.input);
    const ci = items.findIndex((i) => i.type === 'function_call');
    assert.ok(ci >= 0, `no function_call item upstream: ${JSON.stringify(items)}`);
    const call = items[ci] ?? {};
    assert.equal(call.name, TOOL_NAME);
    assert.deepEqual(JSON.parse(str(call.arguments)), plain(TOOL_ARGS));
    if (callId !== undefined) assert.equal(call.call_id, callId);
    const out = items.slice(ci + 1).find((i) => i.type === 'function_call_output');
    assert.ok(out, 'no function_call_output after the call');
    assert.equal(out.call_id, call.call_id);
    assert.equal(out.output, TOOL_RESULT);
  },
};

export const anthropicProbe: WireProbe = {
  wire: 'anthropic',
  userTexts: (b) =>
    objs(b.messages)
      .filter((m) => m.role === 'user')
      .map((m) =>
        typeof m.content === 'string'
          ? m.content
          : objs(m.content)
              .filter((c) => c.type === 'text')
              .map((c) => str(c.text))
              .join(''),
      )
      .filter((t) => t !== ''),
  assertTools(b) {
    const t = objs(b.tools)[0];
    assert.ok(t, `no tools sent upstream: ${JSON.stringify(b.tools)}`);
    assert.equal(t.name, TOOL_NAME);
    assert.deepEqual(plain(t.input_schema), plain(TOOL_PARAMETERS));
  },
  assertToolRoundTrip(b, callId) {
    const msgs = objs(b.messages);
    const ai = msgs.findIndex(
      (m) => m.role === 'assistant' && objs(m.content).some((c) => c.type === 'tool_use'),
    );
    assert.ok(ai >= 0, `no assistant tool_use upstream: ${JSON.stringify(msgs)}`);
    const use = objs(msgs[ai]?.content).find((c) => c.type === 'tool_use') ?? {};
    assert.equal(use.name, TOOL_NAME);
    assert.deepEqual(plain(use.input), plain(TOOL_ARGS));
    if (callId !== undefined) assert.equal(use.id, callId);
    const next = msgs[ai + 1];
    assert.ok(next, 'no message after the assistant tool_use');
    assert.equal(next.role, 'user');
    const result = objs(next.content).find((c) => c.type === 'tool_result');
    assert.ok(result, `no tool_result block: ${JSON.stringify(next)}`);
    assert.equal(result.tool_use_id, use.id);
    assert.equal(textOf(result.content), TOOL_RESULT);
  },
};

function geminiResponseOk(response: unknown): boolean {
  const want = plain(TOOL_RESULT_OBJ);
  const same = (v: unknown) => JSON.stringify(plain(v)) === JSON.stringify(want);
  if (same(response)) return true;
  // A wrapper with one key holding the result (as text or as the object) is valid Gemini too.
  if (!isObj(response) || Object.keys(response).length !== 1) return false;
  const only = Object.values(response)[0];
  return same(only) || only === TOOL_RESULT;
}

export const geminiProbe: WireProbe = {
  wire: 'gemini',
  userTexts: (b) =>
    objs(b.contents)
      .filter((c) => c.role === 'user')
      .map((c) =>
        objs(c.parts)
          .map((p) => str(p.text))
          .join(''),
      )
      .filter((t) => t !== ''),
  assertTools(b) {
    const decl = objs(objs(b.tools)[0]?.functionDeclarations)[0];
    assert.ok(decl, `no functionDeclarations upstream: ${JSON.stringify(b.tools)}`);
    assert.equal(decl.name, TOOL_NAME);
    const params = isObj(decl.parameters) ? decl.parameters : {};
    assert.equal(String(params.type).toLowerCase(), 'object');
    const city = isObj(params.properties) && isObj(params.properties.city) ? params.properties.city : {};
    assert.equal(String(city.type).toLowerCase(), 'string');
    assert.deepEqual(params.required, ['city']);
  },
  assertToolRoundTrip(b) {
    const contents = objs(b.contents);
    const mi = contents.findIndex(
      (c) => c.role === 'model' && objs(c.parts).some((p) => isObj(p.functionCall)),
    );
    assert.ok(mi >= 0, `no model functionCall turn upstream: ${JSON.stringify(contents)}`);
    const fc = objs(contents[mi]?.parts).find((p) => isObj(p.functionCall))?.functionCall as Obj;
    assert.equal(fc.name, TOOL_NAME);
    assert.deepEqual(plain(fc.args), plain(TOOL_ARGS));
    const next = contents[mi + 1];
    assert.ok(next, 'no turn after the model functionCall');
    assert.equal(next.role, 'user');
    const fr = objs(next.parts).find((p) => isObj(p.functionResponse))?.functionResponse;
    assert.ok(isObj(fr), `no functionResponse part: ${JSON.stringify(next)}`);
    assert.equal(fr.name, TOOL_NAME);
    assert.ok(geminiResponseOk(fr.response), `functionResponse.response: ${JSON.stringify(fr.response)}`);
  },
};

export const converseProbe: WireProbe = {
  wire: 'converse',
  userTexts: (b) =>
    objs(b.messages)
      .filter((m) => m.role === 'user')
      .map((m) =>
        objs(m.content)
          .map((c) => str(c.text))
          .join(''),
      )
      .filter((t) => t !== ''),
  assertTools(b) {
    const tc = isObj(b.toolConfig) ? b.toolConfig : {};
    const spec = objs(tc.tools)[0]?.toolSpec;
    assert.ok(isObj(spec), `no toolConfig.tools[0].toolSpec upstream: ${JSON.stringify(b.toolConfig)}`);
    assert.equal(spec.name, TOOL_NAME);
    assert.ok(isObj(spec.inputSchema));
    assert.deepEqual(plain(spec.inputSchema.json), plain(TOOL_PARAMETERS));
  },
  assertToolRoundTrip(b, callId) {
    const msgs = objs(b.messages);
    const ai = msgs.findIndex((m) => m.role === 'assistant' && objs(m.content).some((c) => isObj(c.toolUse)));
    assert.ok(ai >= 0, `no assistant toolUse upstream: ${JSON.stringify(msgs)}`);
    const use = objs(msgs[ai]?.content).find((c) => isObj(c.toolUse))?.toolUse as Obj;
    assert.equal(use.name, TOOL_NAME);
    assert.deepEqual(plain(use.input), plain(TOOL_ARGS));
    if (callId !== undefined) assert.equal(use.toolUseId, callId);
    const next = msgs[ai + 1];
    assert.ok(next, 'no message after the assistant toolUse');
    assert.equal(next.role, 'user');
    const tr = objs(next.content).find((c) => isObj(c.toolResult))?.toolResult;
    assert.ok(isObj(tr), `no toolResult block: ${JSON.stringify(next)}`);
    assert.equal(tr.toolUseId, use.toolUseId);
    const parts = objs(tr.content);
    const asText = parts.map((p) => (typeof p.text === 'string' ? p.text : JSON.stringify(p.json))).join('');
    assert.deepEqual(JSON.parse(asText), plain(TOOL_RESULT_OBJ));
  },
};
