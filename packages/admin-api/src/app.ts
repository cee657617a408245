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
import { type AuditRetentionConfig, auditPruner, DEFAULT_AUDIT_RETENTION, queryAudit } from './audit.js';
import { adminKeyChecker } from './auth.js';
import { type ConsoleAssets, consoleAsset, consolePage, loadConsoleAssets } from './console.js';
import {
  AdminHttpError,
  errorResponse,
  fileManagedMessage,
  jsonError,
  MSG_PLAYGROUND_UNWIRED,
  MSG_STATUS_UNWIRED,
  MSG_UNAUTHORIZED,
} from './errors.js';
import { type RouteMarks, requestLog } from './logging.js';
import { buildOpenApiDocument, componentSchemas } from './openapi.js';
import {
  type HealthInfo,
  healthBody,
  livez,
  type ModelHealth,
  modelStatusBody,
  type Readiness,
  readyz,
} from './ops.js';
import { etag, parseIfMatch } from './precondition.js';
import { type FileEntry, fileReader, storeReader } from './reader.js';
import {
  createResource,
  deleteResource,
  getResource,
  listResources,
  patchResource,
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
  /** Audit retention (config `admin.audit`); default 10,000 records, 90 days. */
  auditRetention?: AuditRetentionConfig;
  /** Forwards a request to the in-process proxy's /v1/chat/completions. */
  playground?: (req: Request) => Promise<Response>;
  /** The `/status/config` body of this process's config sync (served at /admin/v1/status/config). */
  statusJson?: () => object;
}

type Handler = (c: Context) => Promise<Response> | Response;

const READY: Readiness = { shuttingDown: false, configApplied: true };

function kindOf(r: RouteDesc): KindDef {
  if (r.kind === undefined) throw new Error(`route ${r.method} ${r.path} has no kind`);
  return r.kind;
}

/** A single resource, with its revision as the ETag (what If-Match compares against). */
function tagged(c: Context, entry: { revision: number }): Response {
  c.header('etag', etag(entry.revision));
  return c.json(entry);
}

/** Actor of each authenticated request (set by the auth wrapper, read by write handlers). */
type Actors = WeakMap<Context, string>;

interface Pages {
  readonly openapiJson: string;
  readonly scalarHtml: string;
  /** Read on first use: most apps (tests, admin-less roles) never serve the console. */
  readonly console: () => ConsoleAssets;
}

function handlerFor(r: RouteDesc, deps: AdminDeps, res: ResourceDeps, actors: Actors, pages: Pages): Handler {
  const fileMode = deps.mode.type === 'file';
  const write = (c: Context) => ({
    actor: actors.get(c) ?? 'unknown',
    ...(r.op === 'create' ? {} : { ifMatch: parseIfMatch(c.req.raw.headers) }),
  });
  switch (r.op) {
    case 'list':
      return async (c) => c.json(await listResources(res, kindOf(r)));
    case 'create':
      return async (c) => tagged(c, await createResource(res, kindOf(r), c.req.raw, write(c)));
    case 'get':
      return async (c) => tagged(c, await getResource(res, kindOf(r), requireId(c)));
    case 'replace':
      return async (c) => {
        const id = requireId(c);
        return tagged(c, await replaceResource(res, kindOf(r), id, c.req.raw, write(c)));
      };
    case 'patch':
      return async (c) => {
        const id = requireId(c);
        return tagged(c, await patchResource(res, kindOf(r), id, c.req.raw, write(c)));
      };
    case 'delete':
      return async (c) => {
        const id = requireId(c);
        return c.json(await deleteResource(res, kindOf(r), id, write(c)));
      };
    case 'rotate':
      return async (c) => {
        const id = requireId(c);
        const out = await rotateResource(res, kindOf(r), id, c.req.raw, write(c));
        c.header('etag', etag(out.entry.revision));
        return c.json(out);
      };
    case 'audit':
      return async (c) =>
        c.json(await queryAudit(fileMode ? undefined : deps.store.audit, new URL(c.req.url)));
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
    case 'status_config':
      return (c) => {
        if (deps.statusJson === undefined) throw new AdminHttpError(501, MSG_STATUS_UNWIRED);
        return c.json(deps.statusJson());
      };
    case 'openapi':
      return () => new Response(pages.openapiJson, { headers: { 'content-type': 'application/json' } });
    case 'scalar':
      return () =>
        new Response(pages.scalarHtml, { headers: { 'content-type': 'text/html; charset=utf-8' } });
    case 'console':
      return (c) => consolePage(c.req.raw, pages.console());
    case 'console_asset':
      return (c) => consoleAsset(c.req.raw, r.path, pages.console());
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
  const log = deps.logger;
  const pruner = auditPruner(
    mode.type === 'file' ? undefined : deps.store.audit,
    deps.auditRetention ?? DEFAULT_AUDIT_RETENTION,
    log,
  );
  // Once at start (a lowered cap or age applies without waiting for a write), then after writes.
  pruner.kick();
  const res: ResourceDeps = { store: deps.store, reader, log, afterWrite: pruner.kick };
  const actors: Actors = new WeakMap();
  const routes = routeTable();
  const openapi = buildOpenApiDocument();
  let consoleAssets: ConsoleAssets | undefined;
  const pages: Pages = {
    openapiJson: JSON.stringify(openapi),
    scalarHtml: scalarPage(routes),
    console: () => {
      consoleAssets ??= loadConsoleAssets(componentSchemas(openapi));
      return consoleAssets;
    },
  };
  const marks: RouteMarks = new WeakMap();

  const guarded = (r: RouteDesc, h: Handler): Handler => {
    return async (c) => {
      marks.set(c, r.path);
      try {
        if (r.auth === 'admin') {
          const actor = isAdmin(c.req.raw.headers);
          if (actor === null) return jsonError(401, MSG_UNAUTHORIZED);
          actors.set(c, actor);
        }
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
    app.on(r.method, r.path, guarded(r, handlerFor(r, deps, res, actors, pages)));
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
