/**
 * `observability.log_format`: `pretty` renders lines for a person through pino-pretty (the
 * access-log line condensed to one line), `json` keeps JSON lines, and `auto` (the default) is
 * pretty exactly when stdout is a terminal. The terminal is a real pseudo-terminal from
 * util-linux `script`, through the built binary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { condenseAccessLine, resolveLogFormat } from './logger.js';
import { childEnv, MAIN, ROOT } from './test-support.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-logfmt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SECRET = 'sk-caller-secret-never-logged';

/**
 * Boots `--role gateway` (file mode: one caller key), sends one chat completion for a model
 * that does not exist (an access-log line with status 404), stops it and returns what it
 * printed. `tty`: run under a pseudo-terminal.
 */
async function run(
  name: string,
  extra: Record<string, unknown>,
  tty: boolean,
  env: Record<string, string> = {},
) {
  const port = await freePort();
  const cfg = join(tmp, `${name}.json`);
  const resources = join(tmp, `${name}-resources.yaml`);
  writeFileSync(
    resources,
    '_format_version: "1"\napi_keys:\n  - {display_name: app, key_env: APP_KEY, allowed_models: []}\n',
  );
  writeFileSync(
    cfg,
    JSON.stringify({
      proxy: { addr: `127.0.0.1:${port}` },
      resources_file: resources,
      data_dir: join(tmp, `${name}-data`),
      observability: { metrics: { prometheus: { enabled: false } }, ...extra },
    }),
  );
  const argv = [process.execPath, MAIN, '--config', cfg, '--role', 'gateway'];
  const child = tty
    ? spawn('script', ['-qfec', argv.map((a) => `'${a}'`).join(' '), '/dev/null'], {
        cwd: ROOT,
        env: childEnv({ ...env, APP_KEY: SECRET, TERM: 'xterm' }),
      })
    : spawn(argv[0] as string, argv.slice(1), { cwd: ROOT, env: childEnv({ ...env, APP_KEY: SECRET }) });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 15_000;
    while (!out.includes('aisix started')) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      if (Date.now() > deadline) assert.fail(`no startup line: ${out}`);
      await sleep(50);
    }
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
      body: '{"model":"nope","messages":[{"role":"user","content":"hi"}]}',
    });
    assert.equal(res.status, 404);
    await res.text();
    while (!/chat\/completions/.test(out)) {
      if (Date.now() > deadline) assert.fail(`no access line: ${out}`);
      await sleep(50);
    }
  } finally {
    // Under `script` the signal goes to the session leader, which hangs up the gateway's terminal.
    child.kill('SIGTERM');
    await exited;
  }
  // Colours and the terminal's carriage returns are not what is asserted.
  return out.replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');
}

test('log_format pretty: readable lines, the access line on one line, no secret', async () => {
  const out = await run('pretty', { log_format: 'pretty' }, false);
  const lines = out.split('\n').filter((l) => l !== '');
  assert.equal(lines.filter((l) => l.startsWith('{')).length, 0, out);
  assert.match(out, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: aisix started/m);
  const access = lines.filter((l) => l.includes('/v1/chat/completions'));
  assert.equal(access.length, 1, out);
  assert.match(access[0] as string, /INFO: POST \/v1\/chat\/completions 404 [\d.]+ms .*"request_id":/);
  assert.ok(!out.includes(SECRET), 'the caller key is not printed');
});

test('log_format json (and LOG_FORMAT=json on a terminal): JSON lines', async () => {
  const out = await run('json', { log_format: 'json' }, false);
  const access = out.split('\n').find((l) => l.includes('/v1/chat/completions')) ?? '';
  assert.equal((JSON.parse(access) as { status?: number }).status, 404);
  const tty = await run('json-tty', {}, true, { LOG_FORMAT: 'json' });
  assert.ok(
    tty.split('\n').some((l) => l.startsWith('{') && l.includes('aisix started')),
    tty,
  );
});

test('log_format auto: pretty on a terminal, JSON when piped', async () => {
  const tty = await run('auto-tty', {}, true);
  assert.match(tty, /INFO: aisix started/);
  assert.match(tty, /INFO: POST \/v1\/chat\/completions 404 /);
  const piped = await run('auto-pipe', {}, false);
  assert.ok(
    piped.split('\n').some((l) => l.startsWith('{') && l.includes('aisix started')),
    piped,
  );
});

test('resolveLogFormat and condenseAccessLine', () => {
  assert.equal(resolveLogFormat('auto', true), 'pretty');
  assert.equal(resolveLogFormat('auto', false), 'json');
  assert.equal(resolveLogFormat('json', true), 'json');
  assert.equal(resolveLogFormat('pretty', false), 'pretty');
  const other = { msg: 'hello', level: 30, a: 1 };
  assert.equal(condenseAccessLine(other), other);
  assert.deepEqual(
    condenseAccessLine({
      level: 30,
      time: 't',
      pid: 1,
      role: 'all',
      msg: 'proxy request completed',
      method: 'POST',
      path: '/v1/embeddings',
      status: 200,
      latency_ms: 3.5,
      provider: 'openai',
      model: 'e',
      api_key_id: null,
      total_tokens: 4,
      request_id: 'r1',
      served_by_model: null,
      error_kind: null,
      error: null,
    }),
    {
      level: 30,
      time: 't',
      pid: 1,
      role: 'all',
      msg: 'POST /v1/embeddings 200 3.5ms',
      model: 'e',
      provider: 'openai',
      total_tokens: 4,
      request_id: 'r1',
    },
  );
});
