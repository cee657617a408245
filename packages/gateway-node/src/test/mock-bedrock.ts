/**
 * Test support for the Bedrock e2e: a SigV4 verifier as a Bedrock server would run it, and
 * helpers that answer with AWS event-stream bodies.
 *
 * The verifier is deliberately written from the server's side and shares no code with the
 * gateway's signer (packages/providers/src/bedrock/sigv4.ts): it rebuilds the canonical request
 * from what arrived on the wire (raw path, received headers, received body), so a signer that
 * canonicalises the path, the header set or the payload differently from what it sends fails.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { bedrock } from '@aisix/providers';
import type { SeenRequest } from './mock-upstream.js';

export interface VerifyResult {
  readonly ok: boolean;
  readonly reason?: string;
  readonly accessKeyId?: string;
  readonly region?: string;
  readonly service?: string;
}

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** Percent-encodes every byte outside A-Z a-z 0-9 - _ . ~ (the SigV4 rule), one char at a time. */
function awsEscape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function verifySigV4(
  req: SeenRequest,
  secrets: Readonly<Record<string, string>>,
  nowMs = Date.now(),
): VerifyResult {
  const auth = String(req.headers.authorization ?? '');
  const m = AUTH.exec(auth);
  if (!m) return { ok: false, reason: 'malformed authorization header' };
  const [, akid = '', date = '', region = '', service = '', signedList = '', signature = ''] = m;
  const secret = secrets[akid];
  if (secret === undefined) return { ok: false, reason: 'unknown access key' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return { ok: false, reason: 'x-amz-date does not match the scope date' };
  const t = Date.UTC(
    Number(amzDate.slice(0, 4)),
    Number(amzDate.slice(4, 6)) - 1,
    Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)),
    Number(amzDate.slice(11, 13)),
    Number(amzDate.slice(13, 15)),
  );
  if (Math.abs(nowMs - t) > 5 * 60_000) return { ok: false, reason: 'request time too skewed' };
  const payloadHash = createHash('sha256').update(req.body, 'utf8').digest('hex');
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash) return { ok: false, reason: 'payload hash mismatch' };
  const signed = signedList.split(';');
  if (!signed.includes('host')) return { ok: false, reason: 'host not signed' };
  const headerLines = signed.map((name) => {
    const v = req.headers[name];
    const value = Array.isArray(v) ? v.join(',') : (v ?? '');
    return `${name}:${value.trim().replace(/\s+/g, ' ')}\n`;
  });
  const [rawPath = '/', rawQuery = ''] = req.url.split('?');
  const canonicalPath = rawPath.split('/').map(awsEscape).join('/');
  const query = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const [k = '', v = ''] = p.split('=');
      return `${awsEscape(decodeURIComponent(k))}=${awsEscape(decodeURIComponent(v))}`;
    })
    .sort()
    .join('&');
  const canonical = `${req.method}\n${canonicalPath}\n${query}\n${headerLines.join('')}\n${signedList}\n${payloadHash}`;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  let key: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const part of [region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const expected = createHmac('sha256', key).update(sts).digest('hex');
  if (expected !== signature) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, accessKeyId: akid, region, service };
}

/** Answers like Bedrock does to a bad signature. */
export function rejectSignature(res: ServerResponse, reason: string): void {
  const body = JSON.stringify({ message: `The request signature we calculated does not match (${reason})` });
  res.writeHead(403, {
    'content-type': 'application/json',
    'x-amzn-errortype':
      'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export interface StreamEvent {
  readonly event: string;
  readonly payload: unknown;
}

/** Writes an event stream, one frame per write (optionally split mid-frame to test reassembly). */
export async function writeEventStream(
  res: ServerResponse,
  events: readonly (StreamEvent | { exception: string; message: string })[],
  opts: { split?: boolean; cutLastBytes?: number; gapMs?: number } = {},
): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
  const frames = events.map((e) =>
    'exception' in e
      ? bedrock.encodeBedrockException(e.exception, e.message)
      : bedrock.encodeBedrockEvent(e.event, e.payload),
  );
  let all = Buffer.concat(frames);
  if (opts.cutLastBytes) all = all.subarray(0, all.length - opts.cutLastBytes);
  const step = opts.split ? 5 : all.length;
  for (let i = 0; i < all.length; i += step) {
    if (res.destroyed) return;
    res.write(all.subarray(i, i + step));
    if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
  }
  res.end();
}

export function textStream(words: readonly string[], stopReason = 'end_turn'): StreamEvent[] {
  return [
    { event: 'messageStart', payload: { role: 'assistant' } },
    ...words.map((w) => ({
      event: 'contentBlockDelta',
      payload: { contentBlockIndex: 0, delta: { text: w } },
    })),
    { event: 'contentBlockStop', payload: { contentBlockIndex: 0 } },
    { event: 'messageStop', payload: { stopReason } },
    {
      event: 'metadata',
      payload: {
        usage: { inputTokens: 11, outputTokens: words.length, totalTokens: 11 + words.length },
        metrics: { latencyMs: 5 },
      },
    },
  ];
}
