/**
 * Builds the admin Hono app (it does not listen; see `server.ts`). Every route comes from
 * the route table in `routes.ts`; this file binds each entry to its handler and applies
 * the cross-cutting rules in one wrapper, in this order:
 *   admin auth (401) -> file mode refuses writes (409) -> handler -> error mapping.
 * Auth runs before any body is read. Unknown routes get 404 and known paths with another
 * method get 405, both with the JSON envelope.
 *
 * Deliberately absent: per-kind handlers (resources.ts is generic), Deprecation headers
 * (the admin API is the primary control plane), and any import of the proxy: the
 * playground, health and model status reach the data plane only through `AdminDeps`.
 */
import type { KindDef, KindName } from '@aisix/core';
import type { ResourceStore } from '@aisix/store';
import { type Context, Hono } from 'hono';
import type { Logger } from 'pino';
import { adminKeyChecker } from './auth.js';
import {
  AdminHttpError,
  errorResponse,
  fileManagedMessage,
  jsonError,
  MSG_PLAYGROUND_UNWIRED,
  MSG_UNAUTHORIZED,
} from './errors.js';
import { type RouteMarks, requestLog } from './logging.js';
import { buildOpenApiDocument } from './openapi.js';
import {
  type HealthInfo,
  healthBody,
  livez,
  type ModelHealth,
  modelStatusBody,
  type Readiness,
  readyz,
} from './ops.js';
import { type FileEntry, fileReader, storeReader } from './reader.js';
import {
  createResource,
  deleteResource,
  getResource,
  listResources,
  type ResourceDeps,
  replaceResource,
  requireId,
  rotateResource,
} from './resources.js';
import { type RouteDesc, routeTable } from './routes.js';
import { scalarPage } from './scalar.js';

export type AdminMode =
  | { type: 'etcd' | 'embedded' }
  | {
      type: 'file';
      /** The resources file, named in the 409 text so operators know what to edit. */
      path: string;
      /** The live snapshot's entries; called per request so reloads show up. */
      entries: () => readonly {
        kind: KindName;
        id: string;
        value: Record<string, unknown>;
        revision: number;
      }[];
    };

export interface AdminDeps {
  store: ResourceStore;
  adminKeys: readonly string[];
  mode: AdminMode;
  logger: Logger;
  /** Snapshot freshness; null (or absent) omits `config` from /admin/v1/health. */
  health?: () => HealthInfo | null;
  /** Per-alias upstream health (0 ok, 1 degraded, 2 down); absent = all 0. */
  modelHealth?: (name: string) => ModelHealth;
  /** The same, gathered per read (a multi-worker primary asks its workers); wins over `modelHealth`. */
  podModelHealth?: () => Promise<(name: string) => ModelHealth>;
  /** Same body as the proxy's /status/models; absent = derived from the stored models. */
  modelStatus?: () => Promise<unknown[]> | unknown[];
  readiness?: () => Readiness;
  /** Forwards a request to the in-process proxy's /v1/chat/completions. */
  playground?: (req: Request) => Promise<Response>;
}

type Handler = (c: Context) => Promise<Response> | Response;

const READY: Readiness = { shuttingDown: false, configApplied: true };

function kindOf(r: RouteDesc): KindDef {
  if (r.kind === undefined) throw new Error(`route ${r.method} ${r.path} has no kind`);
  return r.kind;
}

function handlerFor(
  r: RouteDesc,
  deps: AdminDeps,
  res: ResourceDeps,
  openapiJson: string,
  scalarHtml: string,
): Handler {
  const fileMode = deps.mode.type === 'file';
  switch (r.op) {
    case 'list':
      return async (c) => c.json(await listResources(res, kindOf(r)));
    case 'create':
      return async (c) => c.json(await createResource(res, kindOf(r), c.req.raw));
    case 'get':
      return async (c) => c.json(await getResource(res, kindOf(r), requireId(c)));
    case 'replace':
      return async (c) => c.json(await replaceResource(res, kindOf(r), requireId(c), c.req.raw));
    case 'delete':
      return async (c) => c.json(await deleteResource(res, kindOf(r), requireId(c)));
    case 'rotate':
      return async (c) => c.json(await rotateResource(res, kindOf(r), requireId(c)));
    case 'health':
      return async (c) =>
        c.json(
          await healthBody(
            res.reader,
            fileMode ? null : (deps.health?.() ?? null),
            deps.podModelHealth ? await deps.podModelHealth() : deps.modelHealth,
          ),
        );
    case 'models_status':
      return async (c) => c.json(await modelStatusBody(res.reader, deps.modelStatus));
    case 'openapi':
      return () => new Response(openapiJson, { headers: { 'content-type': 'application/json' } });
    case 'scalar':
      return () => new Response(scalarHtml, { headers: { 'content-type': 'text/html; charset=utf-8' } });
    case 'livez':
      return (c) => livez(deps.readiness?.() ?? READY, c.req.query('verbose') !== undefined);
    case 'readyz':
      return (c) => readyz(deps.readiness?.() ?? READY, c.req.query('verbose') !== undefined, fileMode);
    case 'playground':
      return async (c) => {
        if (deps.playground === undefined) throw new AdminHttpError(501, MSG_PLAYGROUND_UNWIRED);
        return deps.playground(c.req.raw);
      };
  }
}

export function createAdminApp(deps: AdminDeps): Hono {
  const isAdmin = adminKeyChecker(deps.adminKeys);
  const mode = deps.mode;
  const reader = mode.type === 'file' ? fileReader(mode.entries) : storeReader(deps.store);
  const res: ResourceDeps = { store: deps.store, reader };
  const routes = routeTable();
  const openapiJson = JSON.stringify(buildOpenApiDocument());
  const scalarHtml = scalarPage(routes);
  const marks: RouteMarks = new WeakMap();
  const log = deps.logger;

  const guarded = (r: RouteDesc, h: Handler): Handler => {
    return async (c) => {
      marks.set(c, r.path);
      try {
        if (r.auth === 'admin' && !isAdmin(c.req.raw.headers)) return jsonError(401, MSG_UNAUTHORIZED);
        if (r.mutating && mode.type === 'file') return jsonError(409, fileManagedMessage(mode.path));
        return await h(c);
      } catch (err) {
        const { response, internal } = errorResponse(err);
        if (internal) {
          // Name and message only: no request data is attached to thrown errors here.
          const e = err instanceof Error ? err : new Error(String(err));
          log.error({ route: r.path, err_name: e.name, err_msg: e.message }, 'admin request failed');
        }
        return response;
      }
    };
  };

  const app = new Hono();
  app.use('*', requestLog(log, marks));
  const methodsByPath = new Map<string, Set<string>>();
  for (const r of routes) {
    app.on(r.method, r.path, guarded(r, handlerFor(r, deps, res, openapiJson, scalarHtml)));
    const set = methodsByPath.get(r.path) ?? new Set<string>();
    set.add(r.method);
    methodsByPath.set(r.path, set);
  }
  // Registered after every real route, so they only answer when no method matched.
  for (const [path, methods] of methodsByPath) {
    const allow = [...methods, ...(methods.has('GET') ? ['HEAD'] : [])].join(', ');
    app.all(path, (c) => {
      marks.set(c, path);
      return jsonError(405, 'method not allowed', { allow });
    });
  }
  app.notFound(() => jsonError(404, 'route not found'));
  app.onError((err) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error({ err_name: e.name, err_msg: e.message }, 'admin request failed');
    return jsonError(500, 'internal error');
  });
  return app;
}

export type { FileEntry };
