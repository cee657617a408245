/**
 * The `/admin/openapi-scalar` page. The Scalar explorer is loaded from a CDN; air-gapped
 * clusters cannot fetch it, so the page also renders a plain route list server-side, which
 * stays readable when the script never arrives.
 */
import { openApiPath } from './openapi.js';
import type { RouteDesc } from './routes.js';

const SCALAR_CDN = 'https://cdn.jsdelivr.net/npm/@scalar/api-reference@1';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

export function scalarPage(routes: readonly RouteDesc[]): string {
  const rows = routes
    .map((r) => `<li><code>${r.method} ${esc(openApiPath(r.path))}</code> ${esc(r.summary)}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>AISIX Admin API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<div id="fallback">
<h1>AISIX Admin API</h1>
<p>Machine-readable document: <a href="/admin/openapi.json">/admin/openapi.json</a>.
The interactive explorer below loads from a CDN; without network access this list is what you get.</p>
<ul>
${rows}
</ul>
</div>
<script id="api-reference" data-url="/admin/openapi.json"></script>
<script src="${SCALAR_CDN}" onload="document.getElementById('fallback').style.display='none'"></script>
</body>
</html>
`;
}
