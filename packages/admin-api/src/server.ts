/**
 * Binds an admin app to a TCP address. A port that is taken fails the start with the
 * address in the message (the CLI prints it as is), instead of an unhandled 'error' event.
 */
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

export interface AdminServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** `admin.tls` certificate and key (PEM, already read): the listener serves HTTPS. */
export interface AdminTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export function startAdminServer(
  app: Hono,
  opts: {
    host: string;
    port: number;
    tls?: AdminTls;
    /** Idle keep-alive close (`downstream.idle_timeout_secs`, every listener); 0 = never. */
    keepAliveTimeoutMs?: number;
  },
): Promise<AdminServer> {
  const tls = opts.tls;
  const server = (
    tls
      ? createAdaptorServer({
          fetch: app.fetch,
          createServer: createHttpsServer,
          serverOptions: { cert: tls.cert, key: tls.key },
        })
      : createAdaptorServer({ fetch: app.fetch })
  ) as Server;
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  const shown = opts.host.includes(':') ? `[${opts.host}]:${opts.port}` : `${opts.host}:${opts.port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'address already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
      reject(new Error(`admin listener cannot bind ${shown}: ${why}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done, fail) => {
            // In-flight requests get 2 s, then their connections are cut. The timer is not
            // unref'd: close() must settle even when nothing else keeps the process alive.
            const cut = setTimeout(() => server.closeAllConnections(), 2000);
            server.close((err) => {
              clearTimeout(cut);
              if (err) fail(err);
              else done();
            });
            // Keep-alive connections would hold close() open until they time out.
            server.closeIdleConnections();
          }),
      });
    });
  });
}
