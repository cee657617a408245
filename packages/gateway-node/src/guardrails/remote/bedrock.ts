/**
 * `bedrock`: the ApplyGuardrail API, POST
 * {endpoint | bedrock_endpoint_url | https://bedrock-runtime.<region>.amazonaws.com}/guardrail/<id>/version/<version>/apply
 * (the guardrail's own `endpoint` first, then the deployment-wide `bedrock_endpoint_url` of
 * config.yaml, then the regional AWS host)
 * signed with SigV4 (service `bedrock`), `{source: INPUT|OUTPUT, content: [{text: {text}}]}`.
 * `GUARDRAIL_INTERVENED` with a BLOCKED assessment blocks (the policy names the detector);
 * sensitive-information matches the guardrail ANONYMIZED are masked with Bedrock's own
 * `{TYPE}` placeholder at every place the matched text occurs.
 */
import type { Finding } from '../types.js';
import { blockAll, isObj, type Json, postJson, type RemoteCheck, RemoteError, trimSlash } from './http.js';
import { signV4 } from './sigv4.js';

interface Doc {
  readonly region: string;
  readonly guardrail_id: string;
  readonly guardrail_version: string;
  readonly aws_credentials: { readonly access_key_id: string; readonly secret_access_key: string };
  readonly endpoint?: string | undefined;
}

const POLICIES: readonly [string, readonly string[]][] = [
  ['topicPolicy', ['topics']],
  ['contentPolicy', ['filters']],
  ['wordPolicy', ['customWords', 'managedWordLists']],
  ['sensitiveInformationPolicy', ['piiEntities', 'regexes']],
  ['contextualGroundingPolicy', ['filters']],
];

export function bedrock(d: Doc, deploymentEndpoint?: string): RemoteCheck {
  const base = trimSlash(
    d.endpoint || deploymentEndpoint || `https://bedrock-runtime.${d.region}.amazonaws.com`,
  );
  const url = new URL(
    `${base}/guardrail/${encodeURIComponent(d.guardrail_id)}/version/${encodeURIComponent(d.guardrail_version)}/apply`,
  );
  return {
    async check(text, phase, http, signal): Promise<Finding[]> {
      const body = JSON.stringify({
        source: phase === 'input' ? 'INPUT' : 'OUTPUT',
        content: [{ text: { text } }],
      });
      const headers = signV4({
        method: 'POST',
        url,
        region: d.region,
        service: 'bedrock',
        accessKeyId: d.aws_credentials.access_key_id,
        secretAccessKey: d.aws_credentials.secret_access_key,
        headers: { 'content-type': 'application/json' },
        body,
        now: new Date(),
      });
      const r = await postJson(http, url.toString(), headers, body, signal);
      if (!isObj(r) || typeof r.action !== 'string') throw new RemoteError('bad_response');
      if (r.action !== 'GUARDRAIL_INTERVENED') return [];
      const masks: Finding[] = [];
      for (const a of Array.isArray(r.assessments) ? r.assessments : []) {
        if (!isObj(a)) continue;
        for (const [policy, lists] of POLICIES) {
          const p = a[policy];
          if (!isObj(p)) continue;
          for (const list of lists) {
            for (const item of Array.isArray(p[list]) ? p[list] : []) {
              if (!isObj(item)) continue;
              if (item.action === 'BLOCKED') return blockAll(detectorOf(policy, item));
              if (item.action === 'ANONYMIZED' && typeof item.match === 'string' && item.match !== '')
                masks.push(...occurrences(text, item.match, String(item.type ?? item.name ?? 'PII')));
            }
          }
        }
      }
      // Intervened without a located anonymization: the guardrail's answer is a block.
      return masks.length > 0 ? masks : blockAll('intervened');
    },
  };
}

function detectorOf(policy: string, item: Json): string {
  const name = item.type ?? item.name;
  return typeof name === 'string' ? `${policy}/${name}`.toLowerCase() : policy.toLowerCase();
}

function occurrences(text: string, match: string, type: string): Finding[] {
  const out: Finding[] = [];
  for (let at = text.indexOf(match); at !== -1; at = text.indexOf(match, at + match.length))
    out.push({
      start: at,
      end: at + match.length,
      detector: type.toLowerCase(),
      action: 'mask',
      replacement: `{${type}}`,
    });
  return out;
}
