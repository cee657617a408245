/**
 * Every proxy route and its facts, in one table: path (matched exactly; also the bounded
 * `endpoint` metric label), method, the error envelope its callers expect, what kind of
 * traffic it carries (interceptors key on it: which requests are cached, how tokens are
 * counted) and how it runs. The label and fact types live with the request context
 * (`pipeline/context.ts`); the compiler holds this table to exactly those labels.
 */
import { audioSpeech, audioTranscriptions, audioTranslations } from './endpoints/audio.js';
import { livez, readyz } from './endpoints/health.js';
import { imageGenerations } from './endpoints/images.js';
import { countTokens, messages } from './endpoints/messages.js';
import { chatCompletions, completions, embeddings } from './endpoints/model-endpoints.js';
import { listModels } from './endpoints/models.js';
import { rerank } from './endpoints/rerank.js';
import { responses } from './endpoints/responses.js';
import { runMcp } from './mcp/endpoint.js';
import { PASSTHROUGH_PREFIX, runPassthrough } from './passthrough/endpoint.js';
import type { EndpointLabel, RequestContext, RouteFacts, RouteKind } from './pipeline/context.js';
import { type EndpointSpec, runModelEndpoint } from './pipeline/run.js';
import type { GatewayRuntime } from './runtime.js';

export interface Route extends RouteFacts {
  readonly run: (rt: GatewayRuntime, ctx: RequestContext) => void | Promise<void>;
}

function model(kind: RouteKind, spec: EndpointSpec, envelope: 'openai' | 'anthropic' = 'openai'): Route {
  return { method: 'POST', kind, envelope, run: (rt, ctx) => runModelEndpoint(rt, ctx, spec) };
}

const TABLE = {
  '/v1/chat/completions': model('chat', chatCompletions),
  '/v1/completions': model('completions', completions),
  '/v1/embeddings': model('embeddings', embeddings),
  '/v1/messages': model('messages', messages, 'anthropic'),
  '/v1/messages/count_tokens': model('count_tokens', countTokens, 'anthropic'),
  '/v1/responses': model('responses', responses),
  '/v1/rerank': model('rerank', rerank),
  '/v1/images/generations': model('images', imageGenerations),
  '/v1/audio/speech': model('audio', audioSpeech),
  '/v1/audio/transcriptions': model('audio', audioTranscriptions),
  '/v1/audio/translations': model('audio', audioTranslations),
  '/v1/models': { method: 'GET', kind: 'models', envelope: 'openai', run: listModels },
  '/livez': { method: 'GET', kind: 'health', envelope: 'openai', run: livez },
  '/readyz': { method: 'GET', kind: 'health', envelope: 'openai', run: readyz },
  '/mcp': { method: 'ANY', kind: 'mcp', envelope: 'openai', run: runMcp },
  '/mcp/:server': { method: 'ANY', kind: 'mcp', envelope: 'openai', run: runMcp },
  '/passthrough/:provider/*rest': {
    method: 'ANY',
    kind: 'passthrough',
    envelope: 'openai',
    run: runPassthrough,
  },
} satisfies Record<Exclude<EndpointLabel, 'other'>, Route>;

export const ROUTES: ReadonlyMap<string, Route> = new Map(Object.entries(TABLE));

/**
 * The route of a request path and its metric label: exact paths, plus the MCP endpoints
 * (`/mcp/` is the aggregate; `/mcp/<server>` shares one bounded label) and the raw tunnel
 * (every `/passthrough/<provider>/<rest>` under one label).
 */
export function resolveRoute(
  path: string,
): { readonly label: EndpointLabel; readonly route: Route } | undefined {
  const route = ROUTES.get(path);
  if (route !== undefined && path !== '/mcp/:server' && path !== '/passthrough/:provider/*rest')
    return { label: path as EndpointLabel, route };
  if (path.startsWith(PASSTHROUGH_PREFIX))
    return { label: '/passthrough/:provider/*rest', route: TABLE['/passthrough/:provider/*rest'] };
  if (!path.startsWith('/mcp/')) return undefined;
  if (path === '/mcp/') return { label: '/mcp', route: TABLE['/mcp'] };
  return { label: '/mcp/:server', route: TABLE['/mcp/:server'] };
}
