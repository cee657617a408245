/**
 * Test harness for the admin API: store factories (real etcd with a unique prefix, and the
 * embedded store in a temp dir), and a running admin server on a real loopback port with a
 * captured pino log and a record of every response body (for leak checks); `adminOnStore`
 * sets both up around a suite, `describeOnBothStores` runs one suite against each store.
 *
 * Lives under src/testing (not exported from the package index); only *.test.ts files use it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { type KindName, kindPrefix, resourceKey } from '@aisix/core';
import { createEtcdStore, openEmbeddedStore, type ResourceStore } from '@aisix/store';
import { testEtcd } from '@aisix/testkit';
import { pino } from 'pino';
import { type AdminDeps, createAdminApp } from '../app.js';
import { startAdminServer } from '../server.js';

export interface StoreHandle {
  readonly name: string;
  readonly store: ResourceStore;
  /** Number of keys of a kind, read from the backend directly (not through ResourceStore). */
  rawCount(kind: KindName): Promise<number>;
  /**
   * Put any bytes at `<prefix>/<kind>/<id>`, as a direct writer (`etcdctl put`) can, bypassing
   * the code under test; resolves with the revision.
   */
  putRaw(kind: KindName, id: string, value: string | Uint8Array): Promise<number>;
  close(): Promise<void>;
}

export type StoreFactory = () => Promise<StoreHandle>;

const b64 = (s: string | Uint8Array): string =>
  (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s)).toString('base64');

/** Counts keys under `<prefix>/<kind>/` through etcd's JSON gateway, bypassing our client. */
export async function etcdRawCount(endpoint: string, prefix: string, kind: string): Promise<number> {
  const key = `${prefix}/${kind}/`;
  const end = `${prefix}/${kind}0`; // '0' is the byte after '/'
  const res = await fetch(`${endpoint}/v3/kv/range`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), range_end: b64(end), count_only: true }),
  });
  if (!res.ok) throw new Error(`etcd range failed: ${res.status}`);
  const body = (await res.json()) as { count?: string };
  return Number(body.count ?? '0');
}

export const etcdStoreFactory: StoreFactory = async () => {
  const { endpoint, prefix } = await testEtcd();
  const h = await createEtcdStore({ endpoints: [endpoint], prefix });
  return {
    name: 'etcd',
    store: h.store,
    rawCount: (kind) => etcdRawCount(endpoint, prefix, kind),
    async putRaw(kind, id, value) {
      const res = await fetch(`${endpoint}/v3/kv/put`, {
        method: 'POST',
        body: JSON.stringify({ key: b64(resourceKey(prefix, kind, id)), value: b64(value) }),
      });
      if (!res.ok) throw new Error(`etcd put failed: ${res.status}`);
      const body = (await res.json()) as { header?: { revision?: string } };
      return Number(body.header?.revision);
    },
    close: () => h.close(),
  };
};

export const embeddedStoreFactory: StoreFactory = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aisix-admin-'));
  const h = await openEmbeddedStore({ dir, prefix: '/aisix' });
  return {
    name: 'embedded',
    store: h.store,
    // Every key of the kind, values that are not documents included (like the etcd count).
    rawCount: async (kind) =>
      (await h.source.load()).entries.filter((e) => e.key.startsWith(kindPrefix('/aisix', kind))).length,
    putRaw: (kind, id, value) =>
      h.putRaw(resourceKey('/aisix', kind, id), typeof value === 'string' ? Buffer.from(value) : value),
    close: async () => {
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

export const ADMIN_KEY = 'admin-key-7f3a9c-do-not-leak';

export interface CallOptions {
  /** JSON body (serialised) or raw string body. */
  body?: unknown;
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Admin key to send as Bearer; null sends no auth. Default: ADMIN_KEY. */
  key?: string | null;
}

export interface CallResult {
  status: number;
  text: string;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

export interface TestAdmin {
  readonly base: string;
  readonly port: number;
  /** Every log line written so far. */
  readonly logs: string[];
  /** Every response body received through `call`. */
  readonly bodies: string[];
  call(method: string, path: string, opts?: CallOptions): Promise<CallResult>;
  close(): Promise<void>;
}

/** What `startTestAdmin` takes: the admin key defaults to ADMIN_KEY, the mode to embedded. */
export type TestAdminDeps = Omit<AdminDeps, 'logger' | 'adminKeys' | 'mode'> &
  Partial<Pick<AdminDeps, 'adminKeys' | 'mode'>>;

export async function startTestAdmin(deps: TestAdminDeps): Promise<TestAdmin> {
  const logs: string[] = [];
  const bodies: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) });
  const app = createAdminApp({ adminKeys: [ADMIN_KEY], mode: { type: 'embedded' }, ...deps, logger });
  const server = await startAdminServer(app, { host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    base,
    port: server.port,
    logs,
    bodies,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const key = opts.key === undefined ? ADMIN_KEY : opts.key;
      if (key !== null && headers.authorization === undefined) headers.authorization = `Bearer ${key}`;
      let body: string | Uint8Array | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${base}${path}`, { method, headers, body });
      const text = await res.text();
      bodies.push(text);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, text, headers: res.headers, json };
    },
    close: () => server.close(),
  };
}

/** A store and an admin server on it; read it only inside hooks and tests. */
export interface StoreSuite {
  readonly h: StoreHandle;
  readonly admin: TestAdmin;
}

/**
 * Opens a store from `factory` and starts an admin server on it (with `deps`) before the tests
 * of the suite this is called in (of the file, at top level), then runs `setup`; closes both
 * after the tests. Setup that needs the server goes in `setup`, not in a `before` of its own:
 * Node 20 runs a file's top-level `before` hooks concurrently.
 */
export function adminOnStore(
  factory: StoreFactory,
  deps: Omit<TestAdminDeps, 'store'> = {},
  setup?: () => Promise<void>,
): StoreSuite {
  let h: StoreHandle | undefined;
  let admin: TestAdmin | undefined;
  before(async () => {
    h = await factory();
    admin = await startTestAdmin({ ...deps, store: h.store });
    await setup?.();
  });
  after(async () => {
    await admin?.close();
    await h?.close();
  });
  const started = <T>(x: T | undefined): T => {
    if (x === undefined) throw new Error('the store and admin server are set up in before()');
    return x;
  };
  return {
    get h() {
      return started(h);
    },
    get admin() {
      return started(admin);
    },
  };
}

const BOTH_STORES = [
  ['etcd', etcdStoreFactory],
  ['embedded', embeddedStoreFactory],
] as const;

/**
 * Declares the suite `body` once per store, as `<title> (etcd)` and `<title> (embedded)`, each
 * with its own store (real etcd with a unique prefix, or the embedded store in a temp dir) and
 * an admin server on it in that store's mode (`adminOnStore`).
 */
export function describeOnBothStores(
  title: string,
  body: (s: StoreSuite) => void,
  opts: Partial<Pick<AdminDeps, 'adminKeys'>> = {},
): void {
  for (const [name, factory] of BOTH_STORES) {
    describe(`${title} (${name})`, () => body(adminOnStore(factory, { mode: { type: name }, ...opts })));
  }
}

/** Narrowing helper for JSON bodies in assertions. */
export function obj(x: unknown): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x))
    throw new Error(`expected a JSON object, got ${JSON.stringify(x)}`);
  return x as Record<string, unknown>;
}

export function arr(x: unknown): unknown[] {
  if (!Array.isArray(x)) throw new Error(`expected a JSON array, got ${JSON.stringify(x)}`);
  return x;
}

/**
 * Creates a provider key through the API and returns its id. Writes must reference what
 * exists, so a test that stores a direct model creates its provider key first.
 */
export async function createProviderKey(
  admin: TestAdmin,
  body: Record<string, unknown> = { display_name: 'pk', provider: 'openai', api_key: 'sk-test-upstream' },
): Promise<string> {
  const r = await admin.call('POST', '/admin/v1/provider_keys', { body });
  if (r.status !== 200) throw new Error(`provider key create: ${r.status} ${r.text}`);
  return String(obj(r.json).id);
}
