/**
 * The admin web console (`/admin/console`): one HTML page, one script, one stylesheet and a
 * manifest of the resource kinds with their JSON Schemas (the OpenAPI document's components,
 * so the forms follow the schemas the Admin API validates with). Everything ships in this
 * package; nothing loads from another origin.
 *
 * The page is public, like the API reference: it holds no data, and every call it makes
 * carries the admin key the user typed (`Authorization: Bearer`, kept in sessionStorage).
 * Every console response carries a CSP that allows only this origin's script, style and
 * fetches (no inline code, no framing) and no referrer. Assets are fingerprinted in the page
 * (`?v=<hash>`): the current version is cached for a year, any other request revalidates
 * through its ETag.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KINDS } from '@aisix/core';
import type { JsonObject } from './json-schema.js';
import { CONSOLE_ASSETS, hasRotate } from './routes.js';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const IMMUTABLE = 'public, max-age=31536000, immutable';

interface Asset {
  readonly body: string;
  readonly type: string;
  readonly etag: string;
}

export interface ConsoleAssets {
  readonly version: string;
  readonly page: Asset;
  /** Keyed by request path (`CONSOLE_ASSETS`). */
  readonly files: ReadonlyMap<string, Asset>;
}

/** Kind metadata the UI needs beyond the schemas: paths, names, secrets, rotation. */
function manifest(schemas: JsonObject): string {
  const kinds = KINDS.map((k) => ({
    kind: k.kind,
    path: k.adminPath,
    type: k.typeName,
    create_type: hasRotate(k) ? `${k.typeName}Create` : k.typeName,
    name_field: k.nameField,
    secret_paths: k.secretPaths,
    rotate: hasRotate(k),
  }));
  return JSON.stringify({ kinds, schemas });
}

const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;

function page(version: string): string {
  const v = `?v=${version}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AISIX console</title>
<link rel="stylesheet" href="${CONSOLE_ASSETS.style}${v}">
<script type="module" src="${CONSOLE_ASSETS.script}${v}"></script>
</head>
<body>
<noscript>The AISIX console needs JavaScript. The Admin API itself is described at <a href="/admin/openapi-scalar">/admin/openapi-scalar</a>.</noscript>
<div id="app"></div>
</body>
</html>
`;
}

/**
 * Reads the compiled script (`dist/console/console.js`, built from `console/console.ts`) and
 * the stylesheet (`console/console.css`) next to this module's package.
 */
export function loadConsoleAssets(schemas: JsonObject): ConsoleAssets {
  const script = readFileSync(new URL('../console/console.js', import.meta.url), 'utf8');
  const style = readFileSync(new URL('../../console/console.css', import.meta.url), 'utf8');
  const man = manifest(schemas);
  const version = createHash('sha256')
    .update(script)
    .update('\0')
    .update(style)
    .update('\0')
    .update(man)
    .digest('hex')
    .slice(0, 16);
  const asset = (body: string, type: string): Asset => ({ body, type, etag: etagOf(body) });
  return {
    version,
    page: asset(page(version), 'text/html; charset=utf-8'),
    files: new Map([
      [CONSOLE_ASSETS.script, asset(script, 'text/javascript; charset=utf-8')],
      [CONSOLE_ASSETS.style, asset(style, 'text/css; charset=utf-8')],
      [CONSOLE_ASSETS.manifest, asset(man, 'application/json')],
    ]),
  };
}

function matches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(',').some((t) => {
    const s = t.trim();
    return s === '*' || s === etag || s === `W/${etag}`;
  });
}

function respond(req: Request, a: Asset, cacheControl: string): Response {
  const headers = { ...SECURITY_HEADERS, 'cache-control': cacheControl, etag: a.etag };
  if (matches(req.headers.get('if-none-match'), a.etag)) return new Response(null, { status: 304, headers });
  return new Response(a.body, { headers: { ...headers, 'content-type': a.type } });
}

/** The HTML page: always revalidated, so a new build's fingerprints are picked up at once. */
export function consolePage(req: Request, assets: ConsoleAssets): Response {
  return respond(req, assets.page, 'no-cache');
}

/** An asset by path; cached for a year only when the request names the current version. */
export function consoleAsset(req: Request, path: string, assets: ConsoleAssets): Response {
  const a = assets.files.get(path);
  if (a === undefined) throw new Error(`no console asset at ${path}`);
  const v = new URL(req.url).searchParams.get('v');
  return respond(req, a, v === assets.version ? IMMUTABLE : 'no-cache');
}
