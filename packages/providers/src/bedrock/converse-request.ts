/**
 * OpenAI chat body → Bedrock Converse request (pure; URL, signing and overrides live in index.ts).
 *
 * - `system` / `developer` messages → top-level `system: [{text}]`, wherever they occur (Converse
 *   has no system role inside `messages`).
 * - user / assistant content → content blocks: text parts → `{text}`, `image_url` data URLs →
 *   `{image: {format, source: {bytes}}}` (base64 passed through). Converse takes image bytes
 *   only, and adapters do no I/O, so a remote image URL is a 400 rather than a silent drop.
 * - assistant `tool_calls` → `{toolUse: {toolUseId, name, input}}` (arguments parsed as JSON);
 *   `tool` messages → `{toolResult: {toolUseId, content: [{text}]}}` in a user turn.
 * - Consecutive turns of one role are merged (Converse requires alternation; parallel tool
 *   results become one user turn). Blank text is dropped; empty turns are skipped.
 * - `max_completion_tokens`/`max_tokens` → `inferenceConfig.maxTokens`, `temperature`, `top_p` →
 *   `topP`, `stop` → `stopSequences`; function `tools` → `toolConfig.tools[].toolSpec`;
 *   `tool_choice` auto → `{auto}`, required → `{any}`, a named function → `{tool: {name}}`,
 *   none → no `toolConfig` at all (Converse has no "none"), except when the history has
 *   toolUse/toolResult blocks, which require `toolConfig`: the tools then stay declared.
 * - Everything else OpenAI-only is dropped (Converse rejects unknown top-level fields). Extra
 *   Converse fields (`additionalModelRequestFields`, `guardrailConfig`, ...) come from the
 *   ProviderKey's `default_body_fields`, merged onto the Converse body in index.ts.
 */

type Obj = Record<string, unknown>;

export type ConverseBlock =
  | { text: string }
  | { image: { format: string; source: { bytes: string } } }
  | { toolUse: { toolUseId: string; name: string; input: unknown } }
  | { toolResult: { toolUseId: string; content: { text: string }[] } };

export interface ConverseMessage {
  role: 'user' | 'assistant';
  content: ConverseBlock[];
}

export interface ConverseRequest {
  messages: ConverseMessage[];
  system?: { text: string }[];
  inferenceConfig?: { maxTokens?: number; temperature?: number; topP?: number; stopSequences?: string[] };
  toolConfig?: {
    tools: { toolSpec: { name: string; description?: string; inputSchema: { json: unknown } } }[];
    toolChoice?: Obj;
  };
  [extra: string]: unknown;
}

export type ConverseRequestResult =
  | { readonly ok: true; readonly body: ConverseRequest }
  | { readonly ok: false; readonly message: string };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

const DATA_URL = /^data:image\/(png|jpeg|jpg|gif|webp)(?:;[^;,]*)*;base64,/i;

class Refusal extends Error {}

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) =>
      typeof p === 'string' ? p : isObj(p) && p.type === 'text' && typeof p.text === 'string' ? p.text : '',
    )
    .join('');
}

function imageBlock(part: Obj): ConverseBlock {
  const ref = part.image_url;
  const url = typeof ref === 'string' ? ref : isObj(ref) && typeof ref.url === 'string' ? ref.url : '';
  const m = DATA_URL.exec(url);
  if (!m) {
    throw new Refusal(
      'request payload is invalid: bedrock accepts images only as base64 data: URLs (png, jpeg, gif, webp)',
    );
  }
  const format = (m[1] ?? '').toLowerCase() === 'jpg' ? 'jpeg' : (m[1] ?? '').toLowerCase();
  return { image: { format, source: { bytes: url.slice(m[0].length) } } };
}

function blocks(content: unknown): ConverseBlock[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ text: content }];
  if (!Array.isArray(content)) return [];
  const out: ConverseBlock[] = [];
  for (const p of content) {
    if (typeof p === 'string') {
      if (p.trim() !== '') out.push({ text: p });
    } else if (isObj(p) && p.type === 'text' && typeof p.text === 'string') {
      if (p.text.trim() !== '') out.push({ text: p.text });
    } else if (isObj(p) && p.type === 'image_url') {
      out.push(imageBlock(p));
    }
    // Audio/file parts have no Converse equivalent here; dropped.
  }
  return out;
}

function toolUse(call: unknown): ConverseBlock | undefined {
  if (!isObj(call) || !isObj(call.function)) return undefined;
  const fn = call.function;
  const id = typeof call.id === 'string' ? call.id : '';
  const name = typeof fn.name === 'string' ? fn.name : '';
  if (id === '' || name === '') throw new Refusal('request payload is invalid: tool call without id or name');
  let input: unknown = {};
  const args = typeof fn.arguments === 'string' ? fn.arguments.trim() : '';
  if (args !== '') {
    try {
      input = JSON.parse(args);
    } catch {
      throw new Refusal(
        `request payload is invalid: arguments of tool call ${JSON.stringify(id)} are not JSON`,
      );
    }
  }
  return { toolUse: { toolUseId: id, name, input: isObj(input) ? input : { value: input } } };
}

function messages(list: unknown): { system: { text: string }[]; messages: ConverseMessage[] } {
  const system: { text: string }[] = [];
  const out: ConverseMessage[] = [];
  const add = (role: 'user' | 'assistant', content: ConverseBlock[]) => {
    if (content.length === 0) return;
    const last = out.at(-1);
    if (last && last.role === role) last.content.push(...content);
    else out.push({ role, content });
  };
  for (const m of Array.isArray(list) ? list : []) {
    if (!isObj(m)) continue;
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = text(m.content);
        if (t.trim() !== '') system.push({ text: t });
        break;
      }
      case 'user':
        add('user', blocks(m.content));
        break;
      case 'assistant': {
        const content = blocks(m.content);
        if (Array.isArray(m.tool_calls)) {
          for (const c of m.tool_calls) {
            const b = toolUse(c);
            if (b) content.push(b);
          }
        }
        add('assistant', content);
        break;
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') {
          throw new Refusal('request payload is invalid: tool message without tool_call_id');
        }
        add('user', [{ toolResult: { toolUseId: m.tool_call_id, content: [{ text: text(m.content) }] } }]);
        break;
      }
      default:
        break;
    }
  }
  return { system, messages: out };
}

function toolConfig(tools: unknown, choice: unknown): ConverseRequest['toolConfig'] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const specs: NonNullable<ConverseRequest['toolConfig']>['tools'] = [];
  for (const t of tools) {
    if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) continue;
    const fn = t.function;
    if (typeof fn.name !== 'string' || fn.name === '') continue;
    specs.push({
      toolSpec: {
        name: fn.name,
        ...(typeof fn.description === 'string' && fn.description !== ''
          ? { description: fn.description }
          : {}),
        inputSchema: { json: isObj(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } },
      },
    });
  }
  if (specs.length === 0) return undefined;
  const cfg: NonNullable<ConverseRequest['toolConfig']> = { tools: specs };
  if (choice === 'auto') cfg.toolChoice = { auto: {} };
  else if (choice === 'required') cfg.toolChoice = { any: {} };
  else if (isObj(choice) && isObj(choice.function) && typeof choice.function.name === 'string') {
    cfg.toolChoice = { tool: { name: choice.function.name } };
  }
  return cfg;
}

function stopSequences(stop: unknown): string[] | undefined {
  const list = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : [];
  const out = list.filter((s): s is string => typeof s === 'string' && s !== '');
  return out.length > 0 ? out : undefined;
}

function hasToolBlocks(list: readonly ConverseMessage[]): boolean {
  return list.some((m) => m.content.some((b) => 'toolUse' in b || 'toolResult' in b));
}

export function toConverseRequest(body: Readonly<Obj>): ConverseRequestResult {
  let conv: ReturnType<typeof messages>;
  try {
    conv = messages(body.messages);
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, message: e.message };
    throw e;
  }
  const out: ConverseRequest = { messages: conv.messages };
  if (conv.system.length > 0) out.system = conv.system;
  const inf: NonNullable<ConverseRequest['inferenceConfig']> = {};
  const maxTokens = num(body.max_completion_tokens) ?? num(body.max_tokens);
  if (maxTokens !== undefined) inf.maxTokens = maxTokens;
  const temperature = num(body.temperature);
  if (temperature !== undefined) inf.temperature = temperature;
  const topP = num(body.top_p);
  if (topP !== undefined) inf.topP = topP;
  const stop = stopSequences(body.stop);
  if (stop) inf.stopSequences = stop;
  if (Object.keys(inf).length > 0) out.inferenceConfig = inf;
  const tc = toolConfig(body.tools, body.tool_choice);
  // Converse has no "none": with tools declared the model may call them. Unless the history
  // carries tool blocks (which require toolConfig), "none" is honoured by not declaring them.
  if (tc && (body.tool_choice !== 'none' || hasToolBlocks(conv.messages))) out.toolConfig = tc;
  return { ok: true, body: out };
}
