/**
 * A Bedrock `ApplyGuardrail` endpoint for tests: guardrail `gr-9` version 1 in eu-west-1, the
 * SigV4 signature recomputed from the request as received (403 when it does not match), and an
 * intervention for any text containing "forbidden".
 */
import { signV4 } from '../guardrails/remote/sigv4.js';
import { json, type MockBehaviour, type SeenRequest } from './mock-upstream.js';

/** The static credentials a guardrail under test signs with. */
export const GUARDRAIL_AWS = {
  access_key_id: 'AKIDEXAMPLE',
  secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

/** The signature the mock recomputes from the request as received. */
function signatureOk(req: SeenRequest): boolean {
  const date = String(req.headers['x-amz-date'] ?? '');
  if (date === '') return false;
  const expected = signV4({
    method: 'POST',
    url: new URL(`http://${req.headers.host}${req.url}`),
    region: 'eu-west-1',
    service: 'bedrock',
    accessKeyId: GUARDRAIL_AWS.access_key_id,
    secretAccessKey: GUARDRAIL_AWS.secret_access_key,
    headers: { 'content-type': String(req.headers['content-type']) },
    body: req.body,
    now: new Date(
      `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
    ),
  });
  return expected.authorization === req.headers.authorization;
}

export const bedrockGuardrailVendor: MockBehaviour = (req, res) => {
  if (req.url !== '/guardrail/gr-9/version/1/apply' || !signatureOk(req))
    return json(res, 403, { message: 'The request signature we calculated does not match' });
  const content = (req.json?.content ?? []) as { text: { text: string } }[];
  if (String(content[0]?.text.text).includes('forbidden'))
    return json(res, 200, {
      action: 'GUARDRAIL_INTERVENED',
      assessments: [{ topicPolicy: { topics: [{ name: 'X', type: 'DENY', action: 'BLOCKED' }] } }],
    });
  json(res, 200, { action: 'NONE', outputs: [], assessments: [] });
};

/** A `kind: bedrock` guardrail document checked by `bedrockGuardrailVendor` (input hook). */
export function bedrockGuardrailDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'bed',
    kind: 'bedrock',
    region: 'eu-west-1',
    guardrail_id: 'gr-9',
    guardrail_version: '1',
    aws_credentials: { kind: 'static', ...GUARDRAIL_AWS },
    latency_mode: { kind: 'serial' },
    fail_open: false,
    hook_point: 'input',
    ...extra,
  };
}
