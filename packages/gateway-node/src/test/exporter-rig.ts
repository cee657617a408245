/**
 * The gateway the observability-exporter tests drive: the standard documents on a mock
 * upstream answering "hi", an OpenAI client with the caller key, and the exporters a test
 * configures, applied as a new snapshot revision (as a store update would).
 */
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
} from './fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from './mock-upstream.js';

export interface ExporterRig {
  readonly up: MockUpstream;
  readonly g: Started;
  readonly client: OpenAI;
  /** Replaces the snapshot's `observability_exporters` with `exporters` (the next revision). */
  apply(exporters: Record<string, Record<string, unknown>>): void;
  /** One chat request with the prompt "a secret prompt"; resolves with its request id. */
  chat(): Promise<string>;
  close(): Promise<void>;
}

export async function startExporterRig(): Promise<ExporterRig> {
  const up = await startMockUpstream(chatJson('hi'));
  const docs = standardDocs(up.url);
  const g = await startTestGateway(buildSnapshot(docs));
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  let revision = 1;
  return {
    up,
    g,
    client,
    apply(exporters) {
      revision += 1;
      const all: Docs & { observability_exporters: Record<string, Record<string, unknown>> } = {
        ...docs,
        observability_exporters: exporters,
      };
      g.source.set(buildSnapshot(all, revision));
    },
    async chat() {
      const { response } = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a secret prompt' }] })
        .withResponse();
      return response.headers.get('x-aisix-request-id') as string;
    },
    async close() {
      await g.gw.close();
      await up.close();
    },
  };
}
