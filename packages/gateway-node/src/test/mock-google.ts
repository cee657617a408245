/**
 * Google-side test doubles for the Gemini / Vertex e2e tests, as behaviours of the shared mock
 * upstream (so every request is recorded for credential-isolation checks):
 * - `googleTokenEndpoint`: the OAuth2 JWT-bearer grant, verifying the RS256 assertion against the
 *   service account's public key and its claims (aud = its own URL, cloud-platform scope);
 * - `geminiFixture` / `geminiSse`: replay the Gemini wire fixtures of packages/providers.
 */
import { type KeyObject, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { json, type MockBehaviour, type SeenRequest, sleep } from './mock-upstream.js';

const FIXTURES = new URL('../../../../providers/src/gemini/fixtures/', import.meta.url);
export const geminiFixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

export interface TokenEndpointState {
  minted: number;
  rejected: number;
}

/** Token endpoint trusting `publicKey`; `audience` is the URL the JWT must name. */
export function googleTokenEndpoint(
  publicKey: KeyObject,
  audience: () => string,
  state: TokenEndpointState,
): MockBehaviour {
  return (req: SeenRequest, res: ServerResponse) => {
    const form = new URLSearchParams(req.body);
    const [h = '', c = '', s = ''] = (form.get('assertion') ?? '').split('.');
    let ok = form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer';
    ok &&= verify('RSA-SHA256', Buffer.from(`${h}.${c}`), publicKey, Buffer.from(s, 'base64url'));
    if (ok) {
      const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as Record<string, unknown>;
      ok = claims.aud === audience() && claims.scope === 'https://www.googleapis.com/auth/cloud-platform';
    }
    if (!ok) {
      state.rejected++;
      return json(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    state.minted++;
    json(res, 200, { access_token: `ya29.minted-${state.minted}`, expires_in: 3599, token_type: 'Bearer' });
  };
}

/** Replays an SSE fixture event by event; `destroyAfter` drops the socket, `cutAfter` ends cleanly. */
export function geminiSse(
  name: string,
  opts: { cutAfter?: number; destroyAfter?: number } = {},
): MockBehaviour {
  return async (_req, res) => {
    const events = geminiFixture(name)
      .split('\n\n')
      .filter((e) => e.trim() !== '');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    for (let i = 0; i < events.length; i++) {
      if (opts.cutAfter !== undefined && i >= opts.cutAfter) break;
      if (opts.destroyAfter !== undefined && i >= opts.destroyAfter) {
        res.socket?.destroy();
        return;
      }
      res.write(`${events[i]}\n\n`);
      await sleep(2);
    }
    res.end();
  };
}

export const geminiJson =
  (name: string): MockBehaviour =>
  (_req, res) =>
    json(res, 200, geminiFixture(name));

/** A Google error envelope with the given HTTP status. */
export const googleError =
  (status: number, grpc: string, message: string, headers: Record<string, string> = {}): MockBehaviour =>
  (_req, res) =>
    json(res, status, { error: { code: status, message, status: grpc } }, headers);
