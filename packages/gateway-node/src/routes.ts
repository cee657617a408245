/**
 * Every proxy route and its facts, in one table: path (matched exactly; also the bounded
 * `endpoint` metric label), method, the error envelope its callers expect, what kind of
 * traffic it carries (interceptors key on it: which requests are cached, how tokens are
 * counted) and how it runs. The label and fact types live with the request context
 * (`pipeline/context.ts`); the compiler holds this table to exactly those labels.
 */
import { runA2aCall, runA2aCard } from './a2a/endpoint.js';
import { audioSpeech, audioTranscriptions, audioTranslations } from './endpoints/audio.js';
import { livez, readyz } from './endpoints/health.js';
import { imageGenerations } from './endpoints/images.js';
import { countTokens, messages } from './endpoints/messages.js';
import { chatCompletions, completions, embeddings } from './endpoints/model-endpoints.js';
import { listModels } from './endpoints/models.js';
import { rerank } from './endpoints/rerank.js';
import { responses } from './endpoints/responses.js';
import { runJobs } from './jobs/endpoint.js';
import { runMcp } from './mcp/endpoint.js';
import { PASSTHROUGH_PREFIX, runPassthrough } from './passthrough/endpoint.js';
import type { EndpointLabel, RequestContext, RouteFacts, RouteKind } from './pipeline/context.js';
import { type EndpointSpec, runModelEndpoint } from './pipeline/run.js';
import { runRealtime } from './realtime/endpoint.js';
import type { GatewayRuntime } from './runtime.js';
import { runVideoSubmit } from './videos/submit.js';
import { runVideoTask } from './videos/task.js';

export interface Route extends RouteFacts {
  readonly run: (rt: GatewayRuntime, ctx: RequestContext) => void | Promise<void>;
}

function model(kind: RouteKind, spec: EndpointSpec, envelope: 'openai' | 'anthropic' = 'openai'): Route {
  return { method: 'POST', kind, envelope, run: (rt, ctx) => runModelEndpoint(rt, ctx, spec) };
}

/** Job APIs answer their own methods (405 with the right `Allow`) and sub-paths. */
function jobs(): Route {
  return { method: 'ANY', kind: 'jobs', envelope: 'openai', run: runJobs };
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
  '/v1/videos': { method: 'POST', kind: 'videos', envelope: 'openai', run: runVideoSubmit },
  // Poll and `/content` share one label (agents-and-jobs §1.4); the handler tells them apart.
  '/v1/videos/:id': { method: 'GET', kind: 'videos', envelope: 'openai', run: runVideoTask },
  '/a2a': { method: 'POST', kind: 'a2a', envelope: 'openai', run: runA2aCall },
  '/a2a/:agent/.well-known/agent-card.json': {
    method: 'GET',
    kind: 'a2a_card',
    envelope: 'openai',
    run: runA2aCard,
  },
  // ANY: the handshake check answers every method itself, before authentication (§7.1).
  '/v1/realtime': { method: 'ANY', kind: 'realtime', envelope: 'openai', run: runRealtime },
  '/v1/files': jobs(),
  '/v1/files/:id': jobs(),
  '/v1/batches': jobs(),
  '/v1/batches/:id': jobs(),
  '/v1/fine_tuning/jobs': jobs(),
  '/v1/fine_tuning/jobs/:id': jobs(),
  '/passthrough/:provider/*rest': {
    method: 'ANY',
    kind: 'passthrough',
    envelope: 'openai',
    run: runPassthrough,
  },
} satisfies Record<Exclude<EndpointLabel, 'other'>, Route>;

export const ROUTES: ReadonlyMap<string, Route> = new Map(Object.entries(TABLE));

const A2A_CARD = '/.well-known/agent-card.json';

/** Job collections whose items (`<id>`, `<id>/content`, `<id>/cancel`...) share one label. */
const JOB_ITEMS = [
  ['/v1/files/', '/v1/files/:id'],
  ['/v1/batches/', '/v1/batches/:id'],
  ['/v1/fine_tuning/jobs/', '/v1/fine_tuning/jobs/:id'],
] as const;

/**
 * The route of a request path and its metric label: exact paths, plus the MCP endpoints
 * (`/mcp/` is the aggregate; `/mcp/<server>` shares one bounded label), the raw tunnel (every
 * `/passthrough/<provider>/<rest>` under one label), the job items, the
 * video task paths (`/v1/videos/<id>` and `/v1/videos/<id>/content`) and the A2A ones
 * (`/a2a/<agent>` and its card, one label each; the agent is one path segment). A template path
 * (`/:`) or the A2A prefix itself is never matched literally.
 */
export function resolveRoute(
  path: string,
): { readonly label: EndpointLabel; readonly route: Route } | undefined {
  const route = ROUTES.get(path);
  if (route !== undefined && !path.includes('/:') && !path.startsWith('/a2a'))
    return { label: path as EndpointLabel, route };
  for (const [prefix, label] of JOB_ITEMS) {
    if (path.startsWith(prefix)) return { label, route: TABLE[label] };
  }
  if (path.startsWith('/v1/videos/')) {
    const id = path.endsWith('/content') ? path.slice(11, -8) : path.slice(11);
    if (id === '' || id.includes('/')) return undefined;
    return { label: '/v1/videos/:id', route: TABLE['/v1/videos/:id'] };
  }
  if (path.startsWith('/a2a/')) {
    const rest = path.slice(5);
    const slash = rest.indexOf('/');
    if (slash === -1) return rest === '' ? undefined : { label: '/a2a', route: TABLE['/a2a'] };
    if (slash === 0 || rest.slice(slash) !== A2A_CARD) return undefined;
    const label = '/a2a/:agent/.well-known/agent-card.json';
    return { label, route: TABLE[label] };
  }
  if (path.startsWith(PASSTHROUGH_PREFIX))
    return { label: '/passthrough/:provider/*rest', route: TABLE['/passthrough/:provider/*rest'] };
  if (!path.startsWith('/mcp/')) return undefined;
  if (path === '/mcp/') return { label: '/mcp', route: TABLE['/mcp'] };
  return { label: '/mcp/:server', route: TABLE['/mcp/:server'] };
}
