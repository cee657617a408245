/**
 * The JSON logger's stdout (`createLogger`): pino's own lines and the access log's batches (bytes)
 * share one asynchronous queue. Run in a child process whose stdout is a pipe, so the exit flush
 * is the real one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const logger = fileURLToPath(new URL('./logger.js', import.meta.url));
const accessLog = fileURLToPath(
  new URL('./pipeline/access-log.js', import.meta.resolve('@aisix/gateway-node')),
);

function run(body: string): string[] {
  const script = `
    import { closeLogger, createLogger } from ${JSON.stringify(logger)};
    import { accessLogWriter } from ${JSON.stringify(accessLog)};
    const logger = createLogger('info', { role: 'gateway' }, 'json');
    const access = accessLogWriter(logger);
    const line = (id, model) => ({ method: 'POST', path: '/v1/chat/completions', status: 200,
      latency_ms: 1.5, provider: 'openai', model, api_key_id: 'k', prompt_tokens: 1,
      completion_tokens: 2, total_tokens: 3, request_id: id, served_by_model: model,
      routing_attempt_count: 1, routing_fallback_count: 0, error_kind: null, error: null,
      upstream_latency_ms: 1, gateway_latency_ms: 0.5, ttft_ms: null, usage_estimated: false });
    ${body}
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trimEnd().split('\n');
}

test('pino lines and access-log batches reach stdout whole, in order, UTF-8 intact, all of them by a clean exit', () => {
  const lines = run(`
    logger.info({ note: 'caf\\u00e9 \\u2028 \\u{1f600}' }, 'first');
    for (let i = 0; i < 3; i++) access(line('early-' + i, 'mod\\u00e8le-\\u{1f600}'));
    logger.warn('second');
    // Several full batches (64 KiB each) while the process runs, then exit with one pending.
    let n = 0;
    const more = () => {
      for (let i = 0; i < 200; i++) access(line('bulk-' + n++, 'gpt-4o-mini'));
      if (n < 1000) setImmediate(more);
      else {
        access(line('last', 'gpt-4o-mini'));
        logger.info('bye');
        // The gateway's clean exit (main.ts): hand over, drain, then exit.
        closeLogger(logger).then(() => process.exit(0));
      }
    };
    setImmediate(more);
  `);
  const parsed = lines.map(
    (l) => JSON.parse(l) as { msg: string; request_id?: string; note?: string; model?: string },
  );
  const msgs = parsed.filter((p) => p.request_id === undefined).map((p) => p.msg);
  assert.deepEqual(msgs, ['first', 'second', 'bye']);
  assert.equal(parsed[0]?.note, 'caf\u00e9 \u2028 \u{1f600}');
  const ids = parsed.flatMap((p) => (p.request_id === undefined ? [] : [p.request_id]));
  assert.deepEqual(ids, [
    'early-0',
    'early-1',
    'early-2',
    ...Array.from({ length: 1000 }, (_, i) => `bulk-${i}`),
    'last',
  ]);
  assert.equal(parsed.find((p) => p.request_id === 'early-0')?.model, 'mod\u00e8le-\u{1f600}');
});
