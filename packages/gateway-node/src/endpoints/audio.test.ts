import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { buildSnapshot, type Started, startTestGateway, testConfig } from '../test/fixtures.js';
import {
  EXT_KEY,
  extendedDocs,
  type RawUpstream,
  readForm,
  sendJsonBody,
  startRawUpstream,
  wav,
} from '../test/mock-raw.js';

let up: RawUpstream;
let g: Started;
let capped: Started;
let client: OpenAI;

const AUDIO = wav(100);

before(async () => {
  up = await startRawUpstream((_req, res) => sendJsonBody(res, 200, { text: 'hello' }));
  const snap = buildSnapshot(extendedDocs(up.url));
  g = await startTestGateway(snap);
  capped = await startTestGateway(
    snap,
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 1024 } }),
  );
  client = new OpenAI({ apiKey: EXT_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await capped.gw.close();
  await up.close();
});

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail('expected an API error');
}

const errType = (e: InstanceType<typeof OpenAI.APIError>) => (e.error as { type?: string }).type;

test('speech: JSON in with model rewritten, upstream audio bytes and content type out', async () => {
  const mp3 = Buffer.from([0xff, 0xfb, 0x90, 0x64, 0x00, 0x0f, 0xf0, 0x80, 0x81, 0xfe]);
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', server: 'upstream' });
    res.end(mp3);
  });
  const r = await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'Hello there' });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'audio/mpeg');
  assert.equal(r.headers.get('server'), 'AISIX/1.2.3');
  assert.match(r.headers.get('x-aisix-request-id') ?? '', /^[0-9a-f-]{36}$/);
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), mp3);
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/audio/speech');
  assert.equal(seen?.headers.authorization, 'Bearer sk-upstream-secret');
  assert.deepEqual(JSON.parse(seen?.raw.toString() ?? ''), {
    model: 'tts-1',
    voice: 'alloy',
    input: 'Hello there',
  });
});

test('speech: bytes are relayed as they arrive (first chunk before the upstream finished)', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  up.handle(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/ogg' });
    res.write(Buffer.from('first-chunk'));
    await gate;
    res.end(Buffer.from('|second'));
  });
  const r = await client.audio.speech.create({
    model: 'tts',
    voice: 'alloy',
    input: 'x',
    response_format: 'opus',
  });
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  assert.equal(Buffer.from(first.value ?? []).toString(), 'first-chunk');
  release();
  let rest = '';
  for (;;) {
    const c = await reader.read();
    if (c.done) break;
    rest += Buffer.from(c.value).toString();
  }
  assert.equal(rest, '|second');
  assert.equal(r.headers.get('content-type'), 'audio/ogg');
});

test('speech: a client that goes away mid-audio aborts the upstream call', async () => {
  let upstreamClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    upstreamClosed = r;
  });
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.write(Buffer.alloc(64, 1));
    // Never ends on its own: only the gateway aborting the call closes it.
    res.on('close', () => upstreamClosed());
  });
  const ac = new AbortController();
  const r = await client.audio.speech.create(
    { model: 'tts', voice: 'alloy', input: 'long' },
    { signal: ac.signal },
  );
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  ac.abort();
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<string>((r) => {
    timer = setTimeout(() => r('upstream still open'), 5000);
  });
  assert.equal(await Promise.race([closed.then(() => 'closed'), gaveUp]), 'closed');
  clearTimeout(timer);
});

test('speech: an upstream that drops mid-audio is a failed attempt for the target (data-plane §8.6); a caller who leaves is not', async () => {
  const failures = () => g.gw.health.state('tts')?.consecutiveFailures ?? 0;
  const ok = (_req: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.end(Buffer.alloc(16, 2));
  };
  up.handle(ok);
  await (await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'x' })).arrayBuffer();
  assert.equal(failures(), 0);

  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.write(Buffer.alloc(64, 1));
    setTimeout(() => res.socket?.destroy(), 30);
  });
  const r = await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'cut' });
  await assert.rejects(r.arrayBuffer());
  const t0 = Date.now();
  while (failures() === 0 && Date.now() - t0 < 2000) await new Promise((d) => setTimeout(d, 10));
  assert.equal(failures(), 1, 'a body cut short by the upstream counted as a success');

  // A success clears it; then the caller leaving mid-audio leaves the target's record alone.
  up.handle(ok);
  await (await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'x' })).arrayBuffer();
  assert.equal(failures(), 0);
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    res.write(Buffer.alloc(64, 1));
  });
  const ac = new AbortController();
  const left = await client.audio.speech.create(
    { model: 'tts', voice: 'alloy', input: 'long' },
    { signal: ac.signal },
  );
  await (left.body as ReadableStream<Uint8Array>).getReader().read();
  ac.abort();
  await new Promise((d) => setTimeout(d, 200));
  assert.equal(failures(), 0, 'a caller who left was counted against the target');
});

test('speech: upstream 4xx passthrough, 5xx → 502, 501 for a family without audio', async () => {
  up.handle((_req, res) =>
    sendJsonBody(res, 400, { error: { message: 'voice not found', code: 'bad_voice' } }),
  );
  const four = await apiError(client.audio.speech.create({ model: 'tts', voice: 'nobody', input: 'x' }));
  assert.equal(four.status, 400);
  assert.equal(errType(four), 'upstream_error');
  assert.equal(four.code, 'bad_voice');
  up.handle((_req, res) => sendJsonBody(res, 502, { error: { message: 'bad gateway' } }));
  const five = await apiError(client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'x' }));
  assert.equal(five.status, 502);
  const ni = await apiError(client.audio.speech.create({ model: 'claude', voice: 'alloy', input: 'x' }));
  assert.equal(ni.status, 501);
  assert.equal(errType(ni), 'not_implemented');
});

test('transcriptions: multipart forwarded byte-for-byte except the model part (file first)', async () => {
  up.handle((_req, res) =>
    sendJsonBody(res, 200, {
      text: 'hello',
      usage: { type: 'tokens', input_tokens: 5, output_tokens: 2, total_tokens: 7 },
    }),
  );
  const { data, response } = await client.audio.transcriptions
    .create({ file: await toFile(AUDIO, 'a.wav', { type: 'audio/wav' }), model: 'stt', language: 'en' })
    .withResponse();
  assert.equal(data.text, 'hello');
  assert.equal(response.headers.get('server'), 'AISIX/1.2.3');
  const seen = up.requests.at(-1);
  assert.ok(seen);
  assert.equal(seen.url, '/v1/audio/transcriptions');
  assert.equal(seen.headers.authorization, 'Bearer sk-upstream-secret');
  assert.match(String(seen.headers['content-type']), /^multipart\/form-data; ?boundary=/);
  assert.equal(seen.headers['x-aisix-request-id'], response.headers.get('x-aisix-request-id'));
  const form = await readForm(seen);
  assert.equal(form.get('model'), 'whisper-1');
  assert.equal(form.get('language'), 'en');
  assert.equal(form.getAll('model').length, 1);
  const file = form.get('file') as File;
  assert.equal(file.name, 'a.wav');
  assert.deepEqual(Buffer.from(await file.arrayBuffer()), AUDIO);
});

test('transcriptions: model part before the file; text response format passes through', async () => {
  up.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('hello as text\n');
  });
  const text = await client.audio.transcriptions.create({
    model: 'stt',
    file: await toFile(AUDIO, 'b.wav', { type: 'audio/wav' }),
    response_format: 'text',
  });
  assert.equal(String(text).trim(), 'hello as text');
  const form = await readForm(up.requests.at(-1) as NonNullable<ReturnType<typeof up.requests.at>>);
  assert.equal(form.get('model'), 'whisper-1');
  assert.equal(form.get('response_format'), 'text');
});

test('translations: same multipart path to /audio/translations', async () => {
  up.handle((_req, res) => sendJsonBody(res, 200, { text: 'hello in english' }));
  const r = await client.audio.translations.create({
    file: await toFile(AUDIO, 'c.wav', { type: 'audio/wav' }),
    model: 'stt',
  });
  assert.equal(r.text, 'hello in english');
  const seen = up.requests.at(-1);
  assert.equal(seen?.url, '/v1/audio/translations');
  const form = await readForm(seen as NonNullable<typeof seen>);
  assert.equal(form.get('model'), 'whisper-1');
  assert.deepEqual(Buffer.from(await (form.get('file') as File).arrayBuffer()), AUDIO);
});

test('transcriptions: a retry after 5xx resends the identical bytes', async () => {
  let calls = 0;
  up.handle((_req, res) => {
    calls++;
    if (calls === 1) sendJsonBody(res, 500, { error: { message: 'boom' } });
    else sendJsonBody(res, 200, { text: 'second time' });
  });
  const n = up.requests.length;
  const r = await client.audio.transcriptions.create({
    file: await toFile(AUDIO, 'd.wav', { type: 'audio/wav' }),
    model: 'stt-retry',
  });
  assert.equal(r.text, 'second time');
  assert.equal(up.requests.length, n + 2);
  assert.deepEqual(up.requests[n]?.raw, up.requests[n + 1]?.raw);
});

test('transcriptions: 429 is never retried on a single model', async () => {
  up.handle((_req, res) =>
    sendJsonBody(res, 429, { error: { message: 'quota', code: 'rate_limit_exceeded' } }),
  );
  const n = up.requests.length;
  const e = await apiError(
    client.audio.transcriptions.create({ file: await toFile(AUDIO, 'e.wav'), model: 'stt-retry' }),
  );
  assert.equal(e.status, 429);
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.equal(up.requests.length, n + 1);
});

test('transcriptions: JSON body → 400 invalid_request_error; unauthenticated still 401 first', async () => {
  const post = (auth: string) =>
    fetch(`${g.base}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'stt', file: 'not a file' }),
    });
  const n = up.requests.length;
  const r = await post(EXT_KEY);
  assert.equal(r.status, 400);
  assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  assert.equal(r.headers.get('server'), 'AISIX/1.2.3');
  const u = await post('sk-nobody');
  assert.equal(u.status, 401);
  const t = await fetch(`${g.base}/v1/audio/translations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${EXT_KEY}`, 'content-type': 'application/json' },
    body: '{"model":"stt"}',
  });
  assert.equal(t.status, 400);
  assert.equal(up.requests.length, n);
});

test('transcriptions: 403 / 404 / 501 / ip_restricted from the multipart model field', async () => {
  const file = await toFile(AUDIO, 'f.wav');
  const n = up.requests.length;
  assert.equal(
    (await apiError(client.audio.transcriptions.create({ file, model: 'secret-model' }))).status,
    403,
  );
  assert.equal((await apiError(client.audio.transcriptions.create({ file, model: 'nope' }))).status, 404);
  const ni = await apiError(client.audio.transcriptions.create({ file, model: 'claude' }));
  assert.equal(ni.status, 501);
  assert.match(ni.message, /does not support audio transcriptions/);
  const ip = await apiError(client.audio.transcriptions.create({ file, model: 'ip-model' }));
  assert.equal(ip.status, 403);
  assert.equal(ip.code, 'ip_restricted');
  assert.equal(up.requests.length, n);
});

test('transcriptions: two model parts are refused (the upstream could read the other one)', async () => {
  const b = 'XyZboundary';
  const body = Buffer.concat([
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n`),
    Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n`),
    AUDIO,
    Buffer.from(`\r\n--${b}\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n--${b}--\r\n`),
  ]);
  const r = await fetch(`${g.base}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${EXT_KEY}`, 'content-type': `multipart/form-data; boundary=${b}` },
    body,
  });
  assert.equal(r.status, 400);
});

test('transcriptions: a part with two Content-Disposition headers is refused (a parser keeping the last one reads another name)', async () => {
  const b = 'XyZboundary';
  const n = up.requests.length;
  for (const [first, second] of [
    ['name="note"', 'name="model"'],
    ['name="model"', 'name="note"'],
  ]) {
    const body = Buffer.concat([
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n`),
      Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n`),
      AUDIO,
      Buffer.from(
        `\r\n--${b}\r\nContent-Disposition: form-data; ${first}\r\ncontent-disposition: form-data; ${second}\r\n\r\ngpt-4o\r\n--${b}--\r\n`,
      ),
    ]);
    const r = await fetch(`${g.base}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EXT_KEY}`, 'content-type': `multipart/form-data; boundary=${b}` },
      body,
    });
    const answer = (await r.json()) as { error: { type: string } };
    assert.equal(r.status, 400, `${first} / ${second}`);
    assert.equal(answer.error.type, 'invalid_request_error');
  }
  assert.equal(up.requests.length, n);
});

test('transcriptions: a content type naming two boundaries is refused (a parser keeping the last frames other parts)', async () => {
  const n = up.requests.length;
  // Framed by `a`: one model part, `stt`. Framed by `b`: one model part, `gpt-4o`.
  const body = Buffer.concat([
    Buffer.from('--a\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n'),
    Buffer.from('--a\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'),
    Buffer.from('--b\r\nContent-Disposition: form-data; name="model"\r\n\r\ngpt-4o\r\n'),
    Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="b.wav"\r\n\r\n'),
    AUDIO,
    Buffer.from('\r\n--b--\r\n\r\n--a--\r\n'),
  ]);
  for (const ct of [
    'multipart/form-data; boundary=a; boundary=b',
    'multipart/form-data; boundary=a; BOUNDARY="b"',
  ]) {
    const r = await fetch(`${g.base}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EXT_KEY}`, 'content-type': ct },
      body,
    });
    const answer = (await r.json()) as { error: { type: string } };
    assert.equal(r.status, 400, ct);
    assert.equal(answer.error.type, 'invalid_request_error');
  }
  assert.equal(up.requests.length, n);
});

test('transcriptions: over-cap multipart → 413 (declared and chunked), upstream untouched', async () => {
  const n = up.requests.length;
  const small = new OpenAI({ apiKey: EXT_KEY, baseURL: `${capped.base}/v1`, maxRetries: 0 });
  const e = await apiError(
    small.audio.transcriptions.create({ file: await toFile(AUDIO, 'g.wav'), model: 'stt' }),
  );
  assert.equal(e.status, 413);
  assert.equal(errType(e), 'invalid_request_error');
  assert.match(e.message, /limit/);
  // Chunked (no Content-Length): the cap is hit while reading.
  const status = await new Promise<number>((resolve, reject) => {
    const b = 'chunkedB';
    const req = request(
      `${capped.base}/v1/audio/transcriptions`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${EXT_KEY}`,
          'content-type': `multipart/form-data; boundary=${b}`,
          'transfer-encoding': 'chunked',
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(`--${b}\r\nContent-Disposition: form-data; name="model"\r\n\r\nstt\r\n`);
    req.write(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n`);
    req.end(Buffer.concat([AUDIO, Buffer.from(`\r\n--${b}--\r\n`)]));
  });
  assert.equal(status, 413);
  assert.equal(up.requests.length, n);
});

test('speech: a non-ASCII Content-Disposition after Content-Length is relayed byte for byte, not a reset', async () => {
  const mp3 = Buffer.from([0xff, 0xfb, 0x90, 0x64, 0x00, 0x0f]);
  // UTF-8 bytes in a header value are legal HTTP (obs-text); written raw so the order and the
  // bytes are exactly the upstream's: Content-Length first, as many servers send it.
  const disposition = Buffer.from('attachment; filename="résumé.mp3"', 'utf8');
  up.handle((_req, res) => {
    res.socket?.end(
      Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: ${mp3.length}\r\n`),
        Buffer.from('content-disposition: '),
        disposition,
        Buffer.from('\r\n\r\n'),
        mp3,
      ]),
    );
  });
  const r = await client.audio.speech.create({ model: 'tts', voice: 'alloy', input: 'Hello there' });
  assert.equal(r.status, 200);
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), mp3);
  // Header values reach a client as bytes (fetch exposes them one byte per character).
  assert.deepEqual(Buffer.from(String(r.headers.get('content-disposition')), 'latin1'), disposition);
});
