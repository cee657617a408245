import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { emptySnapshot } from '@aisix/core';
import { buildSnapshot, CALLER_KEY, standardDocs, startTestGateway, testConfig } from './test/fixtures.js';
import { chatJson, chatSse, type MockUpstream, startMockUpstream } from './test/mock-upstream.js';

let up: MockUpstream;

before(async () => {
  up = await startMockUpstream(chatJson());
});

after(async () => {
  await up.close();
});

function rawRequest(port: number, text: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => {
      s.destroy();
      resolve(out);
    }, waitMs);
  });
}

test('readiness is 503 until the first snapshot; liveness is 200; bodies per the contract', async () => {
  const g = await startTestGateway(emptySnapshot());
  try {
    const ready = await fetch(`${g.base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), '[+]shutdown ok\n[-]config failed: not ready\nreadyz check failed');
    assert.equal(ready.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(ready.headers.get('server'), 'AISIX/1.2.3');
    const live = await fetch(`${g.base}/livez`);
    assert.equal(live.status, 200);
    assert.equal(await live.text(), 'ok');
    assert.equal(live.headers.get('content-type'), 'text/plain; charset=utf-8');
    const status = await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/ready`);
    assert.equal(status.status, 503);
    assert.equal(await status.text(), 'no configuration available');
    g.source.set(buildSnapshot(standardDocs(up.url)));
    const now = await fetch(`${g.base}/readyz?verbose`);
    assert.equal(now.status, 200);
    assert.equal(await now.text(), '[+]shutdown ok\n[+]config ok\nreadyz check passed');
    assert.equal((await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/ready`)).status, 200);
    assert.equal((await fetch(`${g.base}/livez`, { method: 'POST' })).status, 405);
  } finally {
    await g.gw.close();
  }
});

test('drain: readiness flips to 503, the in-flight stream finishes, then the listener closes', async () => {
  up.handle(chatSse({ words: ['a', 'b', 'c', 'd', 'e', 'f'], gapMs: 100 }));
  const g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ shutdown: { min_drain_secs: 0.3, max_drain_secs: 5 } }),
  );
  const streamed = fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true }),
  }).then((r) => r.text());
  await new Promise((r) => setTimeout(r, 100));
  const drained = g.gw.beginDrain();
  const ready = await fetch(`${g.base}/readyz`);
  assert.equal(ready.status, 503);
  assert.match(await ready.text(), /\[-\]shutdown failed: draining/);
  assert.equal((await fetch(`${g.base}/livez`)).status, 503);
  const text = await streamed;
  assert.ok(text.endsWith('data: [DONE]\n\n'), 'in-flight stream completed');
  await drained;
  await assert.rejects(fetch(`${g.base}/livez`));
});

test('a port in use fails startGateway with an error naming the address', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      startTestGateway(
        buildSnapshot(standardDocs(up.url)),
        testConfig({ proxy: { addr: `127.0.0.1:${port}` } }),
      ),
      (e: Error) =>
        e.message.includes(`proxy.addr: cannot listen on 127.0.0.1:${port}`) &&
        e.message.includes('EADDRINUSE'),
    );
  } finally {
    blocker.close();
  }
});

test('duplicate Content-Length → 400 envelope with our headers; slow-loris body → 408 quickly; server keeps serving', async () => {
  up.handle(chatJson());
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)), testConfig(), {
    bodyIdleTimeoutMs: 300,
  });
  try {
    const dup = await rawRequest(
      g.gw.proxyPort,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
    );
    assert.match(dup, /^HTTP\/1\.1 400 /);
    assert.match(dup, /server: AISIX\/1\.2\.3/i);
    assert.match(dup, /x-aisix-request-id: [0-9a-f-]{36}/i);
    assert.match(dup, /conflicting Content-Length headers/);
    const t0 = Date.now();
    const slow = await rawRequest(
      g.gw.proxyPort,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CALLER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mo`,
      2000,
    );
    assert.match(slow, /^HTTP\/1\.1 408 /);
    assert.ok(Date.now() - t0 < 1500, 'answered quickly');
    const ok = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(ok.status, 200);
    // On /v1/messages: the Anthropic envelope (data-plane §7.2), counted like any request (§8.10).
    const anth = await rawRequest(
      g.gw.proxyPort,
      'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
    );
    assert.match(anth, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(anth.slice(anth.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.deepEqual(body, {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'request payload is invalid: conflicting Content-Length headers',
      },
    });
    const m = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
    const counted = m
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('aisix_proxy_requests_total{') &&
          l.includes('endpoint="/v1/messages"') &&
          l.includes('status="400"'),
      );
    assert.equal(
      counted.length,
      1,
      m
        .split('\n')
        .filter((l) => l.startsWith('aisix_proxy_requests_total{'))
        .join('\n'),
    );
  } finally {
    await g.gw.close();
  }
});

/** Sends `text`, then closes the sending side (FIN) with the body still short; resolves on close. */
function halfClosed(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(text);
      setTimeout(() => s.end(), 100);
    });
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
  });
}

test('a client that closes its side mid-body (chat, file upload) does not take the gateway down', async () => {
  up.handle(chatJson());
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const head = (path: string, type: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${CALLER_KEY}\r\nx-aisix-model: gpt-4o-mini\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n`;
    await halfClosed(
      g.gw.proxyPort,
      `${head('/v1/chat/completions', 'application/json')}{"model":"gpt-4o-mini"`,
    );
    await halfClosed(
      g.gw.proxyPort,
      `${head('/v1/files', 'multipart/form-data; boundary=b')}--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n${'x'.repeat(1000)}`,
    );
    const ok = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(ok.status, 200);
  } finally {
    await g.gw.close();
  }
});

/** Sends `text` and keeps the socket open; resolves with what came back and how long it stayed open. */
function heldOpen(
  port: number,
  text: string,
  maxMs: number,
): Promise<{ out: string; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ out, ms: Date.now() - t0, closed });
    };
    const timer = setTimeout(() => done(false), maxMs);
    s.on('close', () => done(true));
    s.on('error', () => done(true));
  });
}

test('a response sent before the request body was read (401, 404, 405) does not hold the connection for the rest forever', async () => {
  up.handle(chatJson());
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)), testConfig(), {
    bodyIdleTimeoutMs: 300,
  });
  try {
    const partial = (method: string, path: string, key: string) =>
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"gpt-4o-mini"`;
    for (const [method, path, key, status] of [
      ['POST', '/v1/chat/completions', 'sk-wrong', 401],
      ['POST', '/v1/nope', CALLER_KEY, 404],
      ['PUT', '/v1/chat/completions', CALLER_KEY, 405],
    ] as const) {
      const r = await heldOpen(g.gw.proxyPort, partial(method, path, key), 4000);
      assert.match(r.out, new RegExp(`^HTTP/1\\.1 ${status} `), `${method} ${path}`);
      assert.ok(r.closed, `${method} ${path}: connection still open after ${r.ms} ms`);
    }
    // A body that does arrive in time is discarded and the connection serves the next request.
    const both = await new Promise<string>((resolve) => {
      const s = connect(g.gw.proxyPort, '127.0.0.1', () =>
        s.write('POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{"a"'),
      );
      let out = '';
      s.on('data', (d) => {
        out += d.toString();
        if (out.includes('\r\n\r\nok')) {
          s.destroy();
          resolve(out);
        }
      });
      setTimeout(() => s.write(':1}GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'), 100);
      s.on('close', () => resolve(out));
    });
    assert.match(both, /^HTTP\/1\.1 404 /);
    assert.match(both, /HTTP\/1\.1 200 OK[\s\S]*\r\n\r\nok$/);
  } finally {
    await g.gw.close();
  }
});

test('metrics and status listener: request counters, config series, /status/models, /status/config', async () => {
  up.handle(chatJson());
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)), testConfig(), {
    configMetrics: () => 'aisix_config_last_reload_successful 1\n',
    statusJson: () => ({ state: 'synced' }),
  });
  try {
    await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    await fetch(`${g.base}/v1/models`, { headers: { authorization: 'Bearer nope' } });
    const m = await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`);
    const text = await m.text();
    assert.match(
      text,
      /aisix_requests_total\{provider="openai",model="gpt-4o-mini",status="200",outcome="success"\} 1/,
    );
    assert.match(
      text,
      /aisix_auth_decisions_total\{method="api_key",result="denied",reason="unknown_key"\} 1/,
    );
    assert.match(
      text,
      /aisix_llm_total_tokens_total\{endpoint="\/v1\/chat\/completions",inbound_protocol="openai",provider="openai",model="gpt-4o-mini",upstream_model="gpt-4o-mini",provider_key_id="pk1",provider_key_name="mock",api_key_id="k1",team_id="unknown",user_id="unknown",user_name="unknown"\} 12/,
    );
    assert.match(text, /aisix_request_e2e_latency_seconds_bucket/);
    assert.match(text, /aisix_config_last_reload_successful 1/);
    const models = (await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/models`)).json()) as {
      display_name: string;
      kind: string;
    }[];
    assert.ok(models.some((r) => r.display_name === 'gpt-4o-mini' && r.kind === 'direct'));
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/status/config`)).json(), {
      state: 'synced',
    });
  } finally {
    await g.gw.close();
  }
});

test('metrics and status listener: HEAD is GET without a body; another method is 405 with Allow; unknown paths 404', async () => {
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const base = `http://127.0.0.1:${g.gw.metricsPort}`;
    for (const path of ['/metrics', '/status/ready', '/status/config', '/status/models']) {
      const get = await fetch(`${base}${path}`);
      await get.arrayBuffer();
      const head = await fetch(`${base}${path}`, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(head.headers.get('content-type'), get.headers.get('content-type'), path);
      assert.equal(await head.text(), '', path);
      const post = await fetch(`${base}${path}`, { method: 'POST', body: 'x' });
      await post.arrayBuffer();
      assert.equal(post.status, 405, path);
      assert.equal(post.headers.get('allow'), 'GET, HEAD', path);
    }
    const missing = await fetch(`${base}/nope`, { method: 'POST', body: 'x' });
    await missing.arrayBuffer();
    assert.equal(missing.status, 404);
  } finally {
    await g.gw.close();
  }
});

test('a request target in absolute form (RFC 9112 §3.2.2) is routed by its path, query kept', async () => {
  up.handle(chatJson('absolute'));
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const port = g.gw.proxyPort;
    const authority = `127.0.0.1:${port}`;
    const live = await rawRequest(
      port,
      `GET http://${authority}/livez?verbose HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(live, /^HTTP\/1\.1 200 /);
    assert.match(live, /\[\+\]ping ok/);
    const models = await rawRequest(
      port,
      `GET http://${authority}/v1/models HTTP/1.1\r\nHost: ${authority}\r\nAuthorization: Bearer ${CALLER_KEY}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(models, /^HTTP\/1\.1 200 /);
    assert.match(models, /"object":"list"/);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    const chat = await rawRequest(
      port,
      `POST http://${authority}/v1/chat/completions HTTP/1.1\r\nHost: ${authority}\r\nAuthorization: Bearer ${CALLER_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    assert.match(chat, /^HTTP\/1\.1 200 /);
    assert.match(chat, /"content":"absolute"/);
    assert.equal(up.requests.at(-1)?.url, '/v1/chat/completions');
    const missing = await rawRequest(
      port,
      `GET http://${authority}/health HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(missing, /^HTTP\/1\.1 404 /);
  } finally {
    await g.gw.close();
  }
});

test('CONNECT (a client using the gateway as its HTTPS proxy) is answered in the envelope, not dropped', async () => {
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const port = g.gw.proxyPort;
    const tunnel = await rawRequest(
      port,
      'CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n',
    );
    assert.match(tunnel, /^HTTP\/1\.1 404 /);
    assert.match(tunnel, /\r\nserver: AISIX\/1\.2\.3\r\n/i);
    assert.match(tunnel, /\r\nx-aisix-request-id: [0-9a-f-]{36}\r\n/i);
    assert.match(tunnel, /"type":"not_found"/);
    // CONNECT takes an authority, never a path (RFC 9112 §3.2.3): a path is a malformed request.
    const path = await rawRequest(port, 'CONNECT /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(path, /^HTTP\/1\.1 400 /);
    assert.match(path, /"type":"error"/);
    // The listener keeps serving.
    assert.equal((await fetch(`${g.base}/livez`)).status, 200);
  } finally {
    await g.gw.close();
  }
});

test('an Expect other than 100-continue is served like any request (every answer carries Server and the request id)', async () => {
  const g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const port = g.gw.proxyPort;
    const live = await rawRequest(
      port,
      'GET /livez HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nConnection: close\r\n\r\n',
    );
    assert.match(live, /^HTTP\/1\.1 200 /);
    assert.match(live, /\r\nserver: AISIX\/1\.2\.3\r\n/i);
    assert.match(live, /\r\nx-aisix-request-id: [0-9a-f-]{36}\r\n/i);
    const missing = await rawRequest(
      port,
      'GET /nope HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nConnection: close\r\n\r\n',
    );
    assert.match(missing, /^HTTP\/1\.1 404 /);
    assert.match(missing, /"type":"not_found"/);
  } finally {
    await g.gw.close();
  }
});
