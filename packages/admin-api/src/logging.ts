/**
 * One log line per admin request: method, route template, status, latency. Never bodies,
 * headers or raw paths: bodies carry secrets, headers carry the admin key, and the route
 * template is what an operator aggregates on anyway.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';

/** Route template per request, set by the matched handler (unmatched requests have none). */
export type RouteMarks = WeakMap<Context, string>;

export function requestLog(logger: Logger, marks: RouteMarks): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    logger.info(
      {
        method: c.req.method,
        route: marks.get(c) ?? '(unmatched)',
        status: c.res.status,
        latency_ms: Math.round((performance.now() - start) * 10) / 10,
      },
      'admin request',
    );
  };
}
