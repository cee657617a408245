/**
 * Runs the store contract against the etcd store on a real etcd (@aisix/testkit), one unique
 * key prefix and one client per case. Raw puts and compaction go straight to etcd's JSON
 * gateway, as a direct writer or an operator would, not through the code under test.
 */
import { testEtcd } from '@aisix/testkit';
import { createEtcdStore } from '../etcd/index.js';
import { runStoreContract } from './index.js';

async function etcdJson(endpoint: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`etcd ${path} failed (${res.status}): ${JSON.stringify(json)}`);
  return json;
}

const b64 = (v: Uint8Array | string): string => Buffer.from(v).toString('base64');

runStoreContract({
  name: 'etcd',
  async open() {
    const { endpoint, prefix } = await testEtcd();
    const etcd = createEtcdStore({ endpoints: [endpoint], prefix });
    return {
      store: etcd.store,
      source: etcd.source,
      close: () => etcd.close(),
      async putRaw(key, value) {
        const res = await etcdJson(endpoint, '/v3/kv/put', { key: b64(key), value: b64(value) });
        const header = res.header as { revision?: string } | undefined;
        return Number(header?.revision);
      },
      async compact(revision) {
        await etcdJson(endpoint, '/v3/kv/compaction', { revision: String(revision), physical: true });
      },
    };
  },
});
