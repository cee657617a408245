/**
 * `aliyun_text_moderation`: Alibaba Cloud Content Moderation 2.0, the `TextModerationPlus` RPC
 * action (version 2022-03-02) on https://green-cip.<region>.aliyuncs.com (or `endpoint`),
 * service `llm_query_moderation` for prompts and `llm_response_moderation` for answers,
 * `ServiceParameters={"content": ...}`, signed with the RPC signature (HMAC-SHA1 over the sorted,
 * percent-encoded parameters; key = secret + "&"). A `Data.RiskLevel` at or above
 * `risk_level_threshold` blocks. Texts longer than `window_size` go in overlapping windows.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Finding } from '../types.js';
import { windows } from './azure.js';
import { blockAll, type GuardrailHttp, isObj, type RemoteCheck, RemoteError, trimSlash } from './http.js';

interface Doc {
  readonly region: string;
  readonly access_key_id: string;
  readonly access_key_secret: string;
  readonly endpoint?: string | undefined;
  readonly risk_level_threshold: 'low' | 'medium' | 'high';
  readonly window_size: number;
  readonly window_overlap_size: number;
}

const LEVELS: Readonly<Record<string, number>> = { none: 0, low: 1, medium: 2, high: 3 };

/** Percent-encoding of the RPC signature (RFC 3986; `*` and `~` as Alibaba specifies). */
export const aliyunEncode = (s: string) =>
  encodeURIComponent(s)
    .replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/\*/g, '%2A')
    .replace(/%7E/g, '~');

/** The signed form body of an RPC call (`Signature` added to `params`). */
export function signRpc(method: string, params: Record<string, string>, secret: string): string {
  const canonical = Object.keys(params)
    .sort()
    .map((k) => `${aliyunEncode(k)}=${aliyunEncode(params[k] as string)}`)
    .join('&');
  const toSign = `${method}&${aliyunEncode('/')}&${aliyunEncode(canonical)}`;
  const signature = createHmac('sha1', `${secret}&`).update(toSign, 'utf8').digest('base64');
  return `${canonical}&Signature=${aliyunEncode(signature)}`;
}

export function aliyunTextModeration(d: Doc): RemoteCheck {
  const url = `${trimSlash(d.endpoint || `https://green-cip.${d.region}.aliyuncs.com`)}/`;
  const threshold = LEVELS[d.risk_level_threshold] ?? 3;
  const one = async (
    text: string,
    service: string,
    http: GuardrailHttp,
    signal: AbortSignal,
  ): Promise<Finding[]> => {
    const body = signRpc(
      'POST',
      {
        Action: 'TextModerationPlus',
        Version: '2022-03-02',
        Format: 'JSON',
        AccessKeyId: d.access_key_id,
        SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0',
        SignatureNonce: randomUUID(),
        Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        RegionId: d.region,
        Service: service,
        ServiceParameters: JSON.stringify({ content: text }),
      },
      d.access_key_secret,
    );
    const res = await http(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal,
    });
    const raw = await res.text();
    if (res.status < 200 || res.status >= 300)
      throw new RemoteError(res.status >= 500 ? 'status_5xx' : 'status_4xx');
    let r: unknown;
    try {
      r = JSON.parse(raw);
    } catch {
      throw new RemoteError('bad_response');
    }
    if (!isObj(r) || r.Code !== 200 || !isObj(r.Data)) throw new RemoteError('bad_response');
    const level = LEVELS[String(r.Data.RiskLevel ?? 'none')] ?? 0;
    if (level === 0 || level < threshold) return [];
    const first =
      Array.isArray(r.Data.Result) && isObj(r.Data.Result[0]) ? r.Data.Result[0].Label : undefined;
    return blockAll(typeof first === 'string' ? first : `risk_${String(r.Data.RiskLevel)}`);
  };
  return {
    async check(text, phase, http, signal): Promise<Finding[]> {
      const service = phase === 'input' ? 'llm_query_moderation' : 'llm_response_moderation';
      const parts = await Promise.all(
        windows(text, d.window_size, d.window_overlap_size).map((w) => one(w, service, http, signal)),
      );
      return parts.find((p) => p.length > 0) ?? [];
    },
  };
}
