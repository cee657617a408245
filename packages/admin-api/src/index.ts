/**
 * @aisix/admin-api: the control-plane HTTP surface (`/admin/v1/...`, OpenAPI, probes,
 * playground). Depends on core and store only; the composition root (cli) picks the store
 * and wires the data-plane hooks in `AdminDeps`.
 */
export { type AdminDeps, type AdminMode, createAdminApp } from './app.js';
export { MAX_BODY_BYTES } from './body.js';
export { renderReference } from './gen-reference.js';
export { buildOpenApiDocument } from './openapi.js';
export type { HealthInfo, ModelHealth, Readiness } from './ops.js';
export type { FileEntry } from './reader.js';
export type { ResourceEntry } from './resources.js';
export { type RouteDesc, routeTable } from './routes.js';
export { type AdminServer, type AdminTls, startAdminServer } from './server.js';
