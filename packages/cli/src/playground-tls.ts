/**
 * The admin playground's call to this process's own proxy when the proxy serves HTTPS
 * (`proxy.tls`). Global `fetch` cannot be given a trust root per call, and the configured
 * certificate may be issued for a name other than the loopback address, so this one request
 * goes over `node:https` to the loopback address of our own listener without verifying the
 * certificate (the peer is this process, reached on the port it bound itself).
 */
import { request } from 'node:https';
import { Readable } from 'node:stream';

export function loopbackHttpsPost(url: string, headers: Headers, body: ArrayBuffer): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...Object.fromEntries(headers), 'content-length': String(body.byteLength) },
      rejectUnauthorized: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const out = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
      }
      resolve(
        new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, {
          status: res.statusCode ?? 502,
          headers: out,
        }),
      );
    });
    req.end(Buffer.from(body));
  });
}
