/**
 * The route table of the admin listener, as data. The app (`app.ts`) binds a handler to
 * each entry and the OpenAPI document (`openapi.ts`) is generated from the same list, so a
 * route cannot exist without being documented. Resource routes are derived from core's
 * kinds table: adding a kind there adds its five routes here, with no per-kind code.
 *
 * Paths use Hono's `:param` syntax; `openapi.ts` converts them to `{param}`.
 */
import { KINDS, type KindDef } from '@aisix/core';

export type RouteOp =
  | 'list'
  | 'create'
  | 'get'
  | 'replace'
  | 'patch'
  | 'delete'
  | 'rotate'
  | 'models_status'
  | 'health'
  | 'audit'
  | 'openapi'
  | 'scalar'
  | 'console'
  | 'console_asset'
  | 'status_config'
  | 'livez'
  | 'readyz'
  | 'playground';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDesc {
  readonly method: HttpMethod;
  readonly path: string;
  readonly op: RouteOp;
  /** `admin`: admin key; `caller`: a caller API key checked by the proxy; `none`: open. */
  readonly auth: 'admin' | 'caller' | 'none';
  /** Changes stored resources (rejected with 409 in file mode). */
  readonly mutating: boolean;
  readonly summary: string;
  readonly tag: string;
  readonly kind?: KindDef;
  /** The collection segment used in the path (`apikeys` for the alias). */
  readonly collection?: string;
}

export const ADMIN_PREFIX = '/admin/v1';

/** The admin web console's page and its assets (served by `console.ts`). */
export const CONSOLE_PATH = '/admin/console';
export const CONSOLE_ASSETS = {
  script: `${CONSOLE_PATH}/console.js`,
  style: `${CONSOLE_PATH}/console.css`,
  manifest: `${CONSOLE_PATH}/manifest.json`,
} as const;

/** Kinds with a rotate route: the ones whose documents hold a caller-key hash. */
export function hasRotate(kind: KindDef): boolean {
  return kind.kind === 'api_keys';
}

function resourceRoutes(kind: KindDef, collection: string): RouteDesc[] {
  const alias = collection !== kind.adminPath ? ` (alias of /admin/v1/${kind.adminPath})` : '';
  const base = `${ADMIN_PREFIX}/${collection}`;
  const tag = kind.adminPath;
  const common = { auth: 'admin', kind, collection, tag } as const;
  const out: RouteDesc[] = [
    {
      ...common,
      method: 'GET',
      path: base,
      op: 'list',
      mutating: false,
      summary: `List ${kind.typeName} resources${alias}`,
    },
    {
      ...common,
      method: 'POST',
      path: base,
      op: 'create',
      mutating: true,
      summary: `Create ${kind.typeName}${alias}`,
    },
    {
      ...common,
      method: 'GET',
      path: `${base}/:id`,
      op: 'get',
      mutating: false,
      summary: `Get ${kind.typeName}${alias}`,
    },
    {
      ...common,
      method: 'PUT',
      path: `${base}/:id`,
      op: 'replace',
      mutating: true,
      summary: `Replace ${kind.typeName}${alias}`,
    },
    {
      ...common,
      method: 'PATCH',
      path: `${base}/:id`,
      op: 'patch',
      mutating: true,
      summary: `Update fields of ${kind.typeName} with a JSON merge patch${alias}`,
    },
    {
      ...common,
      method: 'DELETE',
      path: `${base}/:id`,
      op: 'delete',
      mutating: true,
      summary: `Delete ${kind.typeName}${alias}`,
    },
  ];
  if (hasRotate(kind)) {
    out.push({
      ...common,
      method: 'POST',
      path: `${base}/:id/rotate`,
      op: 'rotate',
      mutating: true,
      summary: `Rotate the key of ${kind.typeName}: new plaintext, returned once${alias}`,
    });
  }
  return out;
}

export function routeTable(kinds: readonly KindDef[] = KINDS): RouteDesc[] {
  // Static paths under a collection (models/status) come before the collection's `:id`
  // routes: the router answers with the first registered match.
  const routes: RouteDesc[] = [
    {
      method: 'GET',
      path: `${ADMIN_PREFIX}/models/status`,
      op: 'models_status',
      auth: 'admin',
      mutating: false,
      summary: 'Per-model status (health checks, cooldowns), as /status/models on the proxy',
      tag: 'operations',
    },
    {
      method: 'GET',
      path: `${ADMIN_PREFIX}/audit`,
      op: 'audit',
      auth: 'admin',
      mutating: false,
      summary:
        'The audit trail of admin writes, newest first (filters: kind, id, actor, action, since, until)',
      tag: 'audit',
    },
    {
      method: 'GET',
      path: `${ADMIN_PREFIX}/health`,
      op: 'health',
      auth: 'admin',
      mutating: false,
      summary: 'Overall health: models from the store, snapshot freshness',
      tag: 'operations',
    },
    {
      method: 'GET',
      path: `${ADMIN_PREFIX}/status/config`,
      op: 'status_config',
      auth: 'admin',
      mutating: false,
      summary: 'Config sync status, as /status/config on the metrics/status listener',
      tag: 'operations',
    },
  ];
  for (const kind of kinds) {
    for (const collection of [kind.adminPath, ...kind.adminAliases])
      routes.push(...resourceRoutes(kind, collection));
  }
  routes.push(
    {
      method: 'GET',
      path: '/admin/openapi.json',
      op: 'openapi',
      auth: 'none',
      mutating: false,
      summary: 'This OpenAPI 3.1 document',
      tag: 'meta',
    },
    {
      method: 'GET',
      path: '/admin/openapi-scalar',
      op: 'scalar',
      auth: 'none',
      mutating: false,
      summary: 'HTML API explorer for this document',
      tag: 'meta',
    },
    {
      method: 'GET',
      path: CONSOLE_PATH,
      op: 'console',
      auth: 'none',
      mutating: false,
      summary: 'Admin web console (the page; its API calls carry the admin key)',
      tag: 'console',
    },
    ...Object.values(CONSOLE_ASSETS).map(
      (path): RouteDesc => ({
        method: 'GET',
        path,
        op: 'console_asset',
        auth: 'none',
        mutating: false,
        summary: `Admin web console asset (${path.slice(CONSOLE_PATH.length + 1)})`,
        tag: 'console',
      }),
    ),
    {
      method: 'GET',
      path: '/livez',
      op: 'livez',
      auth: 'none',
      mutating: false,
      summary: 'Liveness probe (?verbose for details)',
      tag: 'operations',
    },
    {
      method: 'GET',
      path: '/readyz',
      op: 'readyz',
      auth: 'none',
      mutating: false,
      summary: 'Readiness probe (?verbose for details)',
      tag: 'operations',
    },
    {
      method: 'POST',
      path: '/playground/chat/completions',
      op: 'playground',
      auth: 'caller',
      mutating: false,
      summary: 'Chat completion through the in-process proxy (needs a caller API key)',
      tag: 'playground',
    },
  );
  return routes;
}
