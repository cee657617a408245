/**
 * Shared setup of the dialect endpoint tests (`/v1/messages`, `/v1/responses`): one mock upstream
 * speaking the OpenAI wire (chat completions and Responses), one speaking Anthropic's, and a
 * gateway whose models reach them natively and through bridges:
 *
 * | alias          | Model.provider | provider key                 | upstream |
 * |----------------|----------------|------------------------------|----------|
 * | gpt-4o-mini    | openai         | pk1 (openai)                 | openai   |
 * | ds             | deepseek       | pkD (deepseek, adapter openai) | openai |
 * | claude         | anthropic      | pkA (anthropic, adapter anthropic) | anthropic |
 * | byo-claude     | acme           | pkB (acme, adapter anthropic) | anthropic |
 * | mixed          | group: claude (native), then gpt-4o-mini (bridged)      |
 */
import type { GatewayConfig } from '../config.js';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from './fixtures.js';
import { type MockUpstream, startMockUpstream } from './mock-upstream.js';

export const ALL_KEY = 'sk-all';

export interface DialectRig {
  readonly up: MockUpstream;
  readonly anth: MockUpstream;
  readonly g: Started;
  close(): Promise<void>;
}

export async function startDialectRig(config?: GatewayConfig): Promise<DialectRig> {
  const up = await startMockUpstream();
  const anth = await startMockUpstream();
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkD: {
        display_name: 'ds',
        api_key: 'sk-deepseek',
        provider: 'deepseek',
        adapter: 'openai',
        api_base: `${up.url}/v1`,
      },
      pkA: {
        display_name: 'anth',
        api_key: 'sk-anthropic-secret',
        provider: 'anthropic',
        adapter: 'anthropic',
        api_base: anth.url,
      },
      pkB: {
        display_name: 'byo',
        api_key: 'sk-byo',
        provider: 'acme',
        adapter: 'anthropic',
        api_base: `${anth.url}/v1`,
        request: { forward_client_headers: ['anthropic-beta'], default_body_fields: { top_k: 5 } },
      },
    },
    models: {
      ds: { display_name: 'ds', provider: 'deepseek', model_name: 'deepseek-chat', provider_key_id: 'pkD' },
      claude: {
        display_name: 'claude',
        provider: 'anthropic',
        model_name: 'claude-sonnet',
        provider_key_id: 'pkA',
      },
      byo: {
        display_name: 'byo-claude',
        provider: 'acme',
        model_name: 'claude-haiku',
        provider_key_id: 'pkB',
      },
      mixed: {
        display_name: 'mixed',
        routing: { strategy: 'failover', targets: [{ model: 'claude' }, { model: 'gpt-4o-mini' }] },
      },
    },
  });
  const g = await startTestGateway(buildSnapshot(docs), config);
  return {
    up,
    anth,
    g,
    async close() {
      await g.gw.close();
      await up.close();
      await anth.close();
    },
  };
}
