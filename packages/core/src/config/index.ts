/**
 * config.yaml: the typed `Config`, `parseConfig` (defaults → file → env → validation) and
 * the helpers other packages share with it (socket addresses, url-rewrite rules). Reading
 * the file and printing the failure line is the CLI's job.
 */

export { type ConfigInput, configSource, formatConfigFailure, parseConfig } from './load.js';
export { etcdEndpointsProblem, isCidrOrIp, isIp, parseSocketAddr, type SocketAddr } from './net.js';
export { compileRewriteRegex, parseRewriteTemplate, type RewritePart } from './rewrites.js';
export type { FieldSpec, ObjectSpec } from './spec.js';
export { CONFIG_SPEC, DEFAULT_BUCKETS } from './spec.js';
export * from './types.js';
export { LOG_LEVELS } from './validate.js';
