/**
 * Test helpers for the Vertex credential path: an `AdapterHttpClient` over node:http (the gateway
 * passes one over undici; providers may not depend on it), and a mock Google OAuth token endpoint
 * as a real loopback server that verifies the RS256 assertion against the service account's
 * public key, checks the claims, and records every grant it saw.
 */
import { type KeyObject, verify } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdapterHttpClient } from '../contract.js';

export function nodeHttpClient(): AdapterHttpClient {
  return {
    request(url, init) {
      return new Promise((resolve, reject) => {
        const req = httpRequest(
          url,
          { method: init.method, headers: init.headers, timeout: init.timeoutMs ?? 5000 },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
              resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
            });
            res.on('error', reject);
          },
        );
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end(init.body);
      });
    },
  };
}

export interface Grant {
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
  readonly verified: boolean;
}

export interface MockTokenServer {
  readonly url: string;
  readonly grants: Grant[];
  /** Milliseconds to wait before answering (to overlap concurrent mints). */
  delayMs: number;
  /** Status to answer with instead of minting (e.g. 500). */
  failWith: number | undefined;
  expiresIn: number;
  close(): Promise<void>;
}

const b64json = (s: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

/** A token endpoint that trusts exactly `publicKey` and answers tokens `tok-<n>`. */
export async function startMockTokenServer(publicKey: KeyObject, path = '/token'): Promise<MockTokenServer> {
  const grants: Grant[] = [];
  let n = 0;
  const state = { delayMs: 0, failWith: undefined as number | undefined, expiresIn: 3600 };
  let url = '';
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      setTimeout(() => {
        if (state.failWith !== undefined) return reply(state.failWith, { error: 'backend_error' });
        const parts = (form.get('assertion') ?? '').split('.');
        if (
          req.url !== path ||
          form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' ||
          parts.length !== 3
        ) {
          return reply(400, { error: 'invalid_request' });
        }
        const [h = '', c = '', s = ''] = parts;
        const verified = verify(
          'RSA-SHA256',
          Buffer.from(`${h}.${c}`),
          publicKey,
          Buffer.from(s, 'base64url'),
        );
        const grant = { header: b64json(h), claims: b64json(c), verified };
        grants.push(grant);
        const cl = grant.claims;
        const claimsOk =
          grant.header.alg === 'RS256' &&
          cl.aud === url &&
          cl.scope === 'https://www.googleapis.com/auth/cloud-platform' &&
          typeof cl.iat === 'number' &&
          cl.exp === cl.iat + 3600;
        if (!verified || !claimsOk)
          return reply(400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
        n++;
        reply(200, { access_token: `tok-${n}`, expires_in: state.expiresIn, token_type: 'Bearer' });
      }, state.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  const mock: MockTokenServer = {
    url,
    grants,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(v) {
      state.delayMs = v;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(v) {
      state.failWith = v;
    },
    get expiresIn() {
      return state.expiresIn;
    },
    set expiresIn(v) {
      state.expiresIn = v;
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
  return mock;
}
