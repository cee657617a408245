/**
 * The upstream families of the matrix, as data: how the gateway is configured for each (provider
 * key + model), which wire its mock speaks, where requests must land, which credential it must
 * carry, and the `code` the OpenAI envelope derives from its errors (data-plane.md §7.4).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { anthropicError, serveAnthropic } from '../fixtures/anthropic-wire.js';
import { bedrockError, serveBedrock } from '../fixtures/bedrock-wire.js';
import { googleError, serveGemini } from '../fixtures/gemini-wire.js';
import type { Recorded } from '../fixtures/mock-server.js';
import { openAiError, serveOpenAiChat } from '../fixtures/openai-wire.js';
import { serveResponses } from '../fixtures/responses-wire.js';
import type { Scenario } from '../fixtures/scenario.js';
import {
  anthropicProbe,
  converseProbe,
  geminiProbe,
  isObj,
  openAiChatProbe,
  responsesProbe,
  type WireProbe,
} from './probes.js';

export type DialectId = 'openai-chat' | 'anthropic-messages' | 'openai-responses';
export type FamilyId = 'openai' | 'anthropic' | 'google-ai' | 'bedrock' | 'azure-openai' | 'vertex';

export const CALLER_KEY = 'sk-matrix-caller-5f0c2b7d9e1a';

/** Every upstream secret of the matrix; none may reach any upstream but its own. */
export const SECRETS = {
  openai: 'sk-proj-openai-upstream-8c1f4e',
  anthropic: 'sk-ant-api03-anthropic-upstream-2d9b7a',
  google: 'AIzaSyGoogleUpstream-6e3c1b9f',
  azure: 'azure-upstream-key-0b4d8e2a7c',
  aws: {
    access_key_id: 'AKIAMATRIXEXAMPLE7Q',
    secret_access_key: 'wJalrXUtnFEMI/K7MDENG/matrixSECRETkey9',
    session_token: 'IQoJb3JpZ2luX2VjEMatrixSessionToken',
    region: 'eu-central-1',
  },
} as const;

export const VERTEX = {
  project: 'proj-matrix',
  region: 'us-central1',
  clientEmail: 'gateway@proj-matrix.iam.gserviceaccount.com',
} as const;

/** Values that must never cross to any upstream (the AWS secret signs, it is never sent). */
export function foreignSecrets(self: FamilyId): string[] {
  const all: Record<FamilyId, string[]> = {
    openai: [SECRETS.openai],
    anthropic: [SECRETS.anthropic],
    'google-ai': [SECRETS.google],
    'azure-openai': [SECRETS.azure],
    bedrock: [SECRETS.aws.access_key_id, SECRETS.aws.session_token],
    vertex: ['ya29.'],
  };
  return [
    CALLER_KEY,
    SECRETS.aws.secret_access_key,
    '-----BEGIN PRIVATE KEY-----',
    ...Object.entries(all)
      .filter(([f]) => f !== self)
      .flatMap(([, v]) => v),
  ];
}

export interface ServeContext {
  readonly scenario: Scenario;
  readonly dialect: DialectId;
  /** Tokens the Vertex token endpoint minted (the Vertex mock accepts only these). */
  readonly minted: ReadonlySet<string>;
}

export interface Family {
  readonly id: FamilyId;
  /** The model alias callers use. */
  readonly alias: string;
  readonly offset: number;
  /** Tool-call id the upstream gives (undefined: its wire has none and the gateway makes one). */
  readonly callId: string | undefined;
  /** `error.code` the OpenAI envelope must carry for these upstream statuses (absent: not asserted). */
  readonly codes: Partial<Record<401 | 404 | 429, string>>;
  /** The message the upstream's own error body carries for a status (what a 4xx must pass on). */
  upstreamMessage(status: number): string;
  /** Provider key + model documents (ids `pk-<id>` / `m-<id>`), given the mock's URL. */
  docs(
    mockUrl: string,
    tokenUrl: string,
    privateKeyPem: string,
  ): { pk: Record<string, unknown>; model: Record<string, unknown> };
  /** The wire the upstream sees for this ingress dialect. */
  probe(dialect: DialectId): WireProbe;
  /** True when the gateway serves this dialect natively (passthrough) for this family. */
  native(dialect: DialectId): boolean;
  serve(req: Recorded, res: ServerResponse, ctx: ServeContext): Promise<void> | void;
  /** Method, path, query and stream mode of a model call. */
  assertRoute(req: Recorded, dialect: DialectId, stream: boolean): void;
  /** Exactly its own credential, in its own header. */
  assertCredential(req: Recorded, minted: ReadonlySet<string>): void;
}

const bodyOf = (req: Recorded): Record<string, unknown> => (isObj(req.json) ? req.json : {});
const streamFlag = (req: Recorded) => bodyOf(req).stream === true;

function noOtherAuth(req: Recorded, keep: string): void {
  for (const h of ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'x-amz-security-token']) {
    if (h !== keep) assert.equal(req.headers[h], undefined, `${h} must not be sent to this upstream`);
  }
}

/** `body.error.message` (OpenAI, Azure, Google, Anthropic wires) or `body.message` (AWS). */
function messageOf(body: unknown): string {
  if (!isObj(body)) return '';
  if (isObj(body.error) && typeof body.error.message === 'string') return body.error.message;
  return typeof body.message === 'string' ? body.message : '';
}

const BEDROCK_MODEL = 'meta.llama3-1-70b-instruct-v1:0';

export const FAMILIES: readonly Family[] = [
  {
    id: 'openai',
    alias: 'mx-openai',
    offset: 100,
    callId: 'call_Qm7dK2vX9pL4nR8s',
    codes: { 401: 'invalid_api_key', 404: 'model_not_found', 429: 'rate_limit_exceeded' },
    upstreamMessage: (s) => messageOf(openAiError(s, false).body),
    docs: (url) => ({
      pk: { display_name: 'mx-openai', provider: 'openai', api_key: SECRETS.openai, api_base: `${url}/v1` },
      model: { display_name: 'mx-openai', provider: 'openai', model_name: 'gpt-4o-mini' },
    }),
    probe: (d) => (d === 'openai-responses' ? responsesProbe : openAiChatProbe),
    native: (d) => d === 'openai-responses',
    serve(req, res, ctx) {
      const o = { family: 'openai', offset: 100, callId: 'call_Qm7dK2vX9pL4nR8s' };
      if (req.path === '/v1/responses') return serveResponses(req, res, o, ctx.scenario);
      return serveOpenAiChat(req, res, o, ctx.scenario);
    },
    assertRoute(req, dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, dialect === 'openai-responses' ? '/v1/responses' : '/v1/chat/completions');
      assert.equal(streamFlag(req), stream);
      assert.equal(bodyOf(req).model, 'gpt-4o-mini');
    },
    assertCredential(req) {
      assert.equal(req.headers.authorization, `Bearer ${SECRETS.openai}`);
      noOtherAuth(req, 'authorization');
    },
  },
  {
    id: 'anthropic',
    alias: 'mx-anthropic',
    offset: 200,
    callId: 'toolu_01A09q90qw90lq917835lq9',
    codes: { 401: 'invalid_api_key', 404: 'model_not_found', 429: 'rate_limit_exceeded' },
    upstreamMessage: (s) => messageOf(anthropicError(s).body),
    docs: (url) => ({
      pk: { display_name: 'mx-anthropic', provider: 'anthropic', api_key: SECRETS.anthropic, api_base: url },
      model: { display_name: 'mx-anthropic', provider: 'anthropic', model_name: 'claude-sonnet-4-20250514' },
    }),
    probe: () => anthropicProbe,
    native: (d) => d === 'anthropic-messages',
    serve: (req, res, ctx) =>
      serveAnthropic(
        req,
        res,
        { family: 'anthropic', offset: 200, callId: 'toolu_01A09q90qw90lq917835lq9' },
        ctx.scenario,
      ),
    assertRoute(req, _dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/messages');
      assert.equal(req.headers['anthropic-version'], '2023-06-01');
      assert.equal(streamFlag(req), stream);
      assert.equal(bodyOf(req).model, 'claude-sonnet-4-20250514');
      assert.equal(typeof bodyOf(req).max_tokens, 'number', 'Anthropic requires max_tokens');
    },
    assertCredential(req) {
      assert.equal(req.headers['x-api-key'], SECRETS.anthropic);
      noOtherAuth(req, 'x-api-key');
    },
  },
  {
    id: 'google-ai',
    alias: 'mx-gemini',
    offset: 300,
    callId: undefined,
    codes: { 401: 'invalid_api_key', 404: 'model_not_found', 429: 'rate_limit_exceeded' },
    upstreamMessage: (s) => messageOf(googleError(s).body),
    docs: (url) => ({
      pk: { display_name: 'mx-gemini', provider: 'gemini', api_key: SECRETS.google, api_base: url },
      model: { display_name: 'mx-gemini', provider: 'gemini', model_name: 'gemini-2.0-flash' },
    }),
    probe: () => geminiProbe,
    native: () => false,
    serve: (req, res, ctx) =>
      serveGemini(
        req,
        res,
        { family: 'google-ai', offset: 300, modelVersion: 'gemini-2.0-flash' },
        ctx.scenario,
      ),
    assertRoute(req, _dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(
        req.path,
        `/v1beta/models/gemini-2.0-flash:${stream ? 'streamGenerateContent' : 'generateContent'}`,
      );
      if (stream) assert.equal(req.query.get('alt'), 'sse');
      assert.equal(req.query.get('key'), null, 'the API key must not travel in the URL');
    },
    assertCredential(req) {
      assert.equal(req.headers['x-goog-api-key'], SECRETS.google);
      noOtherAuth(req, 'x-goog-api-key');
    },
  },
  {
    id: 'bedrock',
    alias: 'mx-bedrock',
    offset: 400,
    callId: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q',
    codes: { 404: 'model_not_found', 429: 'rate_limit_exceeded' },
    upstreamMessage: (s) => messageOf(bedrockError(s).body),
    docs: (url) => ({
      pk: {
        display_name: 'mx-bedrock',
        provider: 'bedrock',
        adapter: 'bedrock',
        api_key: JSON.stringify(SECRETS.aws),
        api_base: url,
      },
      model: { display_name: 'mx-bedrock', provider: 'bedrock', model_name: BEDROCK_MODEL },
    }),
    probe: () => converseProbe,
    native: () => false,
    serve: (req, res, ctx) =>
      serveBedrock(
        req,
        res,
        {
          family: 'bedrock',
          offset: 400,
          callId: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q',
          secrets: { [SECRETS.aws.access_key_id]: SECRETS.aws.secret_access_key },
          region: SECRETS.aws.region,
        },
        ctx.scenario,
      ),
    assertRoute(req, _dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(
        req.path,
        `/model/${encodeURIComponent(BEDROCK_MODEL)}/${stream ? 'converse-stream' : 'converse'}`,
      );
    },
    assertCredential(req) {
      assert.match(
        String(req.headers.authorization),
        new RegExp(
          `^AWS4-HMAC-SHA256 Credential=${SECRETS.aws.access_key_id}/\\d{8}/${SECRETS.aws.region}/bedrock/aws4_request, ?SignedHeaders=`,
        ),
      );
      assert.equal(req.headers['x-amz-security-token'], SECRETS.aws.session_token);
      for (const h of ['x-api-key', 'x-goog-api-key', 'api-key']) assert.equal(req.headers[h], undefined, h);
    },
  },
  {
    id: 'azure-openai',
    alias: 'mx-azure',
    offset: 500,
    callId: 'call_az8Hq2LmV0tR3wYk',
    codes: { 404: 'model_not_found' },
    upstreamMessage: (s) => messageOf(openAiError(s, true).body),
    docs: (url) => ({
      pk: {
        display_name: 'mx-azure',
        provider: 'azure',
        adapter: 'azure-openai',
        api_key: SECRETS.azure,
        api_base: url,
      },
      model: { display_name: 'mx-azure', provider: 'azure', model_name: 'gpt-4o-prod' },
    }),
    probe: () => openAiChatProbe,
    native: () => false,
    serve: (req, res, ctx) =>
      serveOpenAiChat(
        req,
        res,
        { family: 'azure-openai', offset: 500, azure: true, callId: 'call_az8Hq2LmV0tR3wYk' },
        ctx.scenario,
      ),
    assertRoute(req, _dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/openai/deployments/gpt-4o-prod/chat/completions');
      assert.ok(req.query.get('api-version'), 'api-version query parameter');
      assert.equal(streamFlag(req), stream);
    },
    assertCredential(req) {
      assert.equal(req.headers['api-key'], SECRETS.azure);
      noOtherAuth(req, 'api-key');
    },
  },
  {
    id: 'vertex',
    alias: 'mx-vertex',
    offset: 600,
    callId: undefined,
    codes: { 401: 'invalid_api_key', 404: 'model_not_found', 429: 'rate_limit_exceeded' },
    upstreamMessage: (s) => messageOf(googleError(s).body),
    docs: (url, tokenUrl, privateKeyPem) => ({
      pk: {
        display_name: 'mx-vertex',
        adapter: 'vertex',
        api_base: url,
        api_key: JSON.stringify({
          project: VERTEX.project,
          region: VERTEX.region,
          service_account_json: {
            type: 'service_account',
            project_id: VERTEX.project,
            private_key_id: 'a1b2c3d4',
            private_key: privateKeyPem,
            client_email: VERTEX.clientEmail,
            token_uri: tokenUrl,
          },
        }),
      },
      model: { display_name: 'mx-vertex', provider: 'vertex', model_name: 'gemini-2.0-flash' },
    }),
    probe: () => geminiProbe,
    native: () => false,
    serve(req, res, ctx) {
      const auth = String(req.headers.authorization ?? '');
      if (!auth.startsWith('Bearer ') || !ctx.minted.has(auth.slice(7))) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: {
              code: 401,
              message: 'Request had invalid authentication credentials.',
              status: 'UNAUTHENTICATED',
            },
          }),
        );
        return;
      }
      return serveGemini(
        req,
        res,
        { family: 'vertex', offset: 600, modelVersion: 'gemini-2.0-flash-001', vertex: true },
        ctx.scenario,
      );
    },
    assertRoute(req, _dialect, stream) {
      assert.equal(req.method, 'POST');
      assert.equal(
        req.path,
        `/v1/projects/${VERTEX.project}/locations/${VERTEX.region}/publishers/google/models/gemini-2.0-flash:${stream ? 'streamGenerateContent' : 'generateContent'}`,
      );
      if (stream) assert.equal(req.query.get('alt'), 'sse');
    },
    assertCredential(req, minted) {
      const auth = String(req.headers.authorization ?? '');
      assert.match(auth, /^Bearer ya29\./);
      assert.ok(minted.has(auth.slice(7)), 'the Bearer token is one the token endpoint minted');
      noOtherAuth(req, 'authorization');
    },
  },
];
