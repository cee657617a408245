import { createLogger } from '/work/main/packages/cli/dist/src/logger.js';
import { accessLogWriter } from '/work/main/packages/gateway-node/dist/src/pipeline/access-log.js';

const logger = createLogger('info', { role: 'gateway' }, 'json');
const access = accessLogWriter(logger);
const line = (id) => ({
  method: 'POST',
  path: '/v1/chat/completions',
  status: 200,
  latency_ms: 1.5,
  provider: 'openai',
  model: 'gpt-4o-mini',
  api_key_id: 'k',
  prompt_tokens: 1,
  completion_tokens: 2,
  total_tokens: 3,
  request_id: id,
  served_by_model: 'x',
  routing_attempt_count: 1,
  routing_fallback_count: 0,
  error_kind: null,
  error: null,
  upstream_latency_ms: 1,
  gateway_latency_ms: 0.5,
  ttft_ms: null,
  usage_estimated: false,
});
for (let i = 0; i < 3; i++) access(line('early-' + i));
let n = 0;
const more = () => {
  for (let i = 0; i < 200; i++) access(line('bulk-' + n++));
  if (n < 1000) setImmediate(more);
  else {
    access(line('last'));
    process.exit(0);
  }
};
setImmediate(more);
