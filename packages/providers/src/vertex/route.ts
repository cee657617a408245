/**
 * Where a Vertex call goes (providers.md §5): the host, and the publisher wire chosen from the
 * upstream model id.
 *
 * - host `https://<region>-aiplatform.googleapis.com` (`global` → `https://aiplatform.googleapis.com`),
 *   unless the ProviderKey `api_base` is a bare origin override (no userinfo, path, query or
 *   fragment: anything else would silently change which API the signed token is sent to);
 * - `gemini-*` and Google embedding models → publisher `google`, Gemini wire
 *   (`:generateContent`, `:streamGenerateContent?alt=sse`, embeddings `:predict`);
 * - `claude-*` → publisher `anthropic`, Anthropic wire (`:rawPredict`, `:streamRawPredict`);
 * - `mistral*`/`codestral*`/`ministral*` (`mistralai`) and `jamba*` (`ai21`) → partner
 *   `:rawPredict` / `:streamRawPredict` with an OpenAI body;
 * - everything else (Llama, DeepSeek, Qwen, gpt-oss, MiniMax, Kimi, GLM, ...) → the
 *   OpenAI-compatible shim `.../endpoints/openapi/chat/completions`, whose `model` is
 *   `<publisher>/<model>` (a bare id gets the publisher from its prefix).
 *
 * A model id may be written bare (`gemini-2.0-flash`), with a publisher (`google/gemini-2.0-flash`)
 * or as a resource path (`publishers/google/models/gemini-2.0-flash`).
 */

export type VertexWire = 'gemini' | 'anthropic' | 'openai';

export interface VertexRoute {
  readonly wire: VertexWire;
  /** Chat URL for this call mode. */
  readonly chatUrl: string;
  /** `:predict` URL (Google publisher only). */
  readonly predictUrl?: string;
  /** `model` for OpenAI-wire bodies. */
  readonly openAiModel?: string;
}

export type RouteResult = { ok: true; route: VertexRoute } | { ok: false; message: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;
const PUBLISHER = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Publishers of the OpenAI-compatible shim by model-id prefix. */
const SHIM_PUBLISHERS: readonly (readonly [string, string])[] = [
  ['llama', 'meta'],
  ['deepseek', 'deepseek-ai'],
  ['qwen', 'qwen'],
  ['gpt-oss', 'openai'],
  ['minimax', 'minimaxai'],
  ['kimi', 'moonshotai'],
  ['glm', 'zai-org'],
];

function invalid(message: string): RouteResult {
  return { ok: false, message: `invalid upstream configuration: ${message}` };
}

/** The API origin: regional host, or the bare-origin override. */
export function vertexOrigin(
  apiBase: string | null | undefined,
  region: string,
): { ok: true; origin: string } | { ok: false; message: string } {
  let b = (apiBase ?? '').trim();
  while (b.endsWith('/')) b = b.slice(0, -1);
  if (b === '') {
    return {
      ok: true,
      origin:
        region === 'global'
          ? 'https://aiplatform.googleapis.com'
          : `https://${region}-aiplatform.googleapis.com`,
    };
  }
  let u: URL;
  try {
    u = new URL(b);
  } catch {
    return { ok: false, message: 'invalid upstream configuration: provider_key api_base is not a valid URL' };
  }
  const bare =
    (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '' && !b.includes('#');
  if (
    (u.protocol !== 'https:' && u.protocol !== 'http:') ||
    u.username !== '' ||
    u.password !== '' ||
    !bare
  ) {
    return {
      ok: false,
      message: 'invalid upstream configuration: Vertex api_base must be a bare origin (scheme://host[:port])',
    };
  }
  return { ok: true, origin: u.origin };
}

function splitModel(id: string): { publisher: string | undefined; name: string } {
  const m = /^publishers\/([^/]+)\/models\/([^/]+)$/.exec(id);
  if (m) return { publisher: m[1], name: m[2] ?? '' };
  const slash = id.indexOf('/');
  if (slash !== -1 && slash === id.lastIndexOf('/'))
    return { publisher: id.slice(0, slash), name: id.slice(slash + 1) };
  return { publisher: undefined, name: id };
}

export function vertexRoute(
  origin: string,
  project: string,
  region: string,
  model: string,
  stream: boolean,
): RouteResult {
  const { publisher: given, name } = splitModel(model);
  if (!NAME.test(name) || (given !== undefined && !PUBLISHER.test(given))) {
    return invalid('model_name is not a valid Vertex model id');
  }
  const lower = name.toLowerCase();
  const root = `${origin}/v1/projects/${encodeURIComponent(project)}/locations/${region}`;
  const published = (pub: string) => `${root}/publishers/${pub}/models/${name}`;
  const isGoogle =
    given === 'google' ||
    (given === undefined &&
      (lower.startsWith('gemini') ||
        lower.startsWith('text-embedding') ||
        lower.startsWith('text-multilingual-embedding')));
  if (isGoogle) {
    const base = published('google');
    return {
      ok: true,
      route: {
        wire: 'gemini',
        chatUrl: `${base}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
        predictUrl: `${base}:predict`,
      },
    };
  }
  const raw = (pub: string) => `${published(pub)}:${stream ? 'streamRawPredict' : 'rawPredict'}`;
  if (given === 'anthropic' || (given === undefined && lower.startsWith('claude'))) {
    return { ok: true, route: { wire: 'anthropic', chatUrl: raw('anthropic') } };
  }
  const partner =
    given ??
    (/^(mistral|codestral|ministral)/.test(lower)
      ? 'mistralai'
      : lower.startsWith('jamba')
        ? 'ai21'
        : undefined);
  if (partner === 'mistralai' || partner === 'ai21') {
    return { ok: true, route: { wire: 'openai', chatUrl: raw(partner), openAiModel: name } };
  }
  const shimPublisher = given ?? SHIM_PUBLISHERS.find(([prefix]) => lower.startsWith(prefix))?.[1];
  return {
    ok: true,
    route: {
      wire: 'openai',
      chatUrl: `${root}/endpoints/openapi/chat/completions`,
      openAiModel: shimPublisher ? `${shimPublisher}/${name}` : name,
    },
  };
}
