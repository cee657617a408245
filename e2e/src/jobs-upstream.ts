/**
 * A mock OpenAI job API (files, batches, fine-tuning) on a real local HTTP server, for the job
 * e2e suite. It records every request as it arrived (method, URL, raw headers, body bytes, the
 * multipart parts it decoded) and answers like OpenAI, with ids that name the upstream (`tag`),
 * so a test can tell which upstream served a call. With `prefix: '/openai'` it serves Azure's
 * resource-root layout instead of `/v1`.
 *
 * `uploadProgress()` is the number of body bytes of the upload in progress received so far: the
 * streaming test waits for it to grow before it sends the rest of its body.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** Decoded multipart parts (uploads only): name → text, or the file's name and bytes. */
  readonly parts?: readonly { name: string; filename?: string; type?: string; bytes: Buffer }[];
}

export interface JobsUpstream {
  readonly base: string;
  readonly seen: SeenRequest[];
  uploadProgress(): number;
  close(): Promise<void>;
}

/** Two models in one output file: usage is attributed per model. */
export function batchOutput(): string {
  const line = (i: number, model: string, p: number, c: number, cached: number) =>
    JSON.stringify({
      id: `batch_req_${i}`,
      custom_id: `r${i}`,
      response: {
        status_code: 200,
        body: {
          model,
          usage: { prompt_tokens: p, completion_tokens: c, prompt_tokens_details: { cached_tokens: cached } },
        },
      },
    });
  return `${[
    line(1, 'gpt-4o-mini-2024-07-18', 10, 5, 2),
    line(2, 'gpt-4o-mini-2024-07-18', 20, 7, 0),
    line(3, 'gpt-4o-2024-08-06', 100, 50, 0),
    JSON.stringify({ id: 'batch_req_4', response: { status_code: 200, body: { model: 'x', usage: {} } } }),
  ].join('\n')}\n`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function parts(req: IncomingMessage, body: Buffer): Promise<SeenRequest['parts']> {
  const form = await new Response(new Uint8Array(body), {
    headers: { 'content-type': req.headers['content-type'] ?? '' },
  }).formData();
  const out: { name: string; filename?: string; type?: string; bytes: Buffer }[] = [];
  for (const [name, v] of form.entries()) {
    if (typeof v === 'string') out.push({ name, bytes: Buffer.from(v) });
    else out.push({ name, filename: v.name, type: v.type, bytes: Buffer.from(await v.arrayBuffer()) });
  }
  return out;
}

export async function startJobsUpstream(tag: string, prefix = '/v1'): Promise<JobsUpstream> {
  const seen: SeenRequest[] = [];
  let progress = 0;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    const upload = req.method === 'POST' && req.url?.startsWith(`${prefix}/files`) === true;
    if (upload) progress = 0;
    try {
      for await (const c of req) {
        chunks.push(c as Buffer);
        if (upload) progress += (c as Buffer).length;
      }
    } catch {
      // The gateway aborted the upload (a refused body): nothing to answer.
      return;
    }
    const body = Buffer.concat(chunks);
    const url = req.url ?? '';
    const path = url.split('?')[0]?.slice(prefix.length) ?? '';
    const isUpload = req.method === 'POST' && path === '/files';
    const rec: SeenRequest = {
      method: req.method ?? '',
      url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body,
      ...(isUpload ? { parts: await parts(req, body) } : {}),
    };
    seen.push(rec);
    const json = (): Record<string, unknown> => JSON.parse(body.toString('utf8') || '{}');
    const m = req.method;
    /** The id captured by `re` for method `method`, else undefined. */
    const at = (method: string, re: RegExp): string | undefined =>
      m === method ? path.match(re)?.[1] : undefined;
    if (isUpload) {
      const file = rec.parts?.find((p) => p.name === 'file');
      const purpose = rec.parts?.find((p) => p.name === 'purpose')?.bytes.toString();
      return send(res, 200, {
        id: `file-${tag}-${seen.length}`,
        object: 'file',
        bytes: file?.bytes.length ?? 0,
        filename: file?.filename,
        purpose,
        created_at: 1,
      });
    }
    if (m === 'GET' && path === '/files')
      return send(res, 200, { object: 'list', data: [{ id: `file-${tag}-listed`, object: 'file' }] });
    const content = at('GET', /^\/files\/([^/]+)\/content$/);
    // The flaky output fails its first download.
    if (content === 'file-out-flaky' && seen.filter((r) => r.url === url).length === 1)
      return send(res, 500, { error: { message: 'storage hiccup', type: 'server_error' } });
    if (content !== undefined) {
      const text = content.startsWith('file-out') ? batchOutput() : `content of ${content}`;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(text);
    }
    const file = path.match(/^\/files\/([^/]+)$/)?.[1];
    if (file !== undefined) {
      if (file === 'file-busy') {
        res.setHeader('retry-after', '7');
        return send(res, 429, { error: { message: 'Slow down', type: 'rate_limit_error' } });
      }
      if (file === 'file-missing')
        return send(res, 404, { error: { message: 'No such File object', type: 'invalid_request_error' } });
      if (m === 'GET') return send(res, 200, { id: file, object: 'file', purpose: 'batch' });
      if (m === 'DELETE') return send(res, 200, { id: file, object: 'file', deleted: true });
    }
    if (m === 'POST' && path === '/batches') {
      const b = json();
      return send(res, 200, {
        id: `batch_${tag}_1`,
        object: 'batch',
        status: 'validating',
        endpoint: b.endpoint,
        input_file_id: b.input_file_id,
        completion_window: b.completion_window,
        output_file_id: null,
      });
    }
    if (m === 'GET' && path === '/batches')
      return send(res, 200, { object: 'list', data: [{ id: `batch_${tag}_listed`, object: 'batch' }] });
    const batch = at('GET', /^\/batches\/([^/]+)$/);
    if (batch !== undefined) {
      return send(res, 200, {
        id: batch,
        object: 'batch',
        status: 'completed',
        input_file_id: `file-${tag}-in`,
        output_file_id: batch === 'batch_flaky' ? 'file-out-flaky' : `file-out-${tag}`,
        error_file_id: '',
      });
    }
    const cancelBatch = at('POST', /^\/batches\/([^/]+)\/cancel$/);
    if (cancelBatch !== undefined)
      return send(res, 200, {
        id: cancelBatch,
        object: 'batch',
        status: 'cancelling',
        input_file_id: `file-${tag}-in`,
      });
    if (m === 'POST' && path === '/fine_tuning/jobs') {
      const b = json();
      return send(res, 200, {
        id: `ftjob-${tag}`,
        object: 'fine_tuning.job',
        model: b.model,
        training_file: b.training_file,
        validation_file: b.validation_file ?? null,
        status: 'queued',
        result_files: [],
      });
    }
    if (m === 'GET' && path === '/fine_tuning/jobs')
      return send(res, 200, { object: 'list', data: [{ id: `ftjob-${tag}-listed` }], has_more: false });
    const job = at('GET', /^\/fine_tuning\/jobs\/([^/]+)$/);
    if (job !== undefined) {
      return send(res, 200, {
        id: job,
        object: 'fine_tuning.job',
        status: 'succeeded',
        training_file: `file-${tag}-train`,
        result_files: [`file-${tag}-result`],
      });
    }
    const cancelJob = at('POST', /^\/fine_tuning\/jobs\/([^/]+)\/cancel$/);
    if (cancelJob !== undefined)
      return send(res, 200, { id: cancelJob, object: 'fine_tuning.job', status: 'cancelled' });
    const events = at('GET', /^\/fine_tuning\/jobs\/([^/]+)\/events$/);
    if (events !== undefined) {
      return send(res, 200, {
        object: 'list',
        data: [
          {
            id: 'ftevent-1',
            object: 'fine_tuning.job.event',
            level: 'info',
            message: `${events} started`,
            created_at: 1,
          },
        ],
        has_more: false,
      });
    }
    send(res, 404, { error: { message: `mock: no route ${m} ${url}`, type: 'invalid_request_error' } });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    seen,
    uploadProgress: () => progress,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
