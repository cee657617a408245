/**
 * Usage of completed batches. Batch requests run at the provider, not through the gateway, so
 * their tokens are only known from the batch's output file. When a retrieve answers a batch as
 * `completed` with an output file, and this process has not attributed that batch yet, a
 * detached task downloads the file with the provider key and emits one usage event per
 * provider model found in it (`inbound_protocol: batch`), with the Model's cost.
 *
 * Event ids are UUIDv5 of `aisix:batch:<raw batch id>` (`:<index>` added when the file names
 * several models), so a sink deduplicating on `request_id` counts a batch once even when
 * another replica, or this one after a restart, attributes it again. A failed download forgets
 * the batch, so the next retrieve tries again.
 */
import { createHash } from 'node:crypto';
import { emptyUsage, prepareJobCall, type Usage } from '@aisix/providers';
import type { RequestContext } from '../pipeline/context.js';
import { modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { adapterHttpFor } from '../upstream/authorize.js';
import { templateVars } from '../upstream/target.js';
import { costUsd, type UsageEvent } from '../usage/events.js';
import { decodeId, rawIdOk } from './ids.js';
import type { JobTarget } from './target.js';

const DOWNLOAD_TIMEOUT_MS = 120_000;
/** One output line is one response; a longer "line" is skipped. */
const MAX_LINE = 16 * 1024 * 1024;
/**
 * Provider models told apart per batch (one event each). A batch names one model in practice;
 * the tokens of models past this many are summed under no model (cost is the Model's anyway),
 * so a file naming a new model on every line cannot grow the table or the events without bound.
 */
export const MAX_MODELS = 100;
/** Batches attributed by this process; bounded (the oldest is forgotten first). */
const MAX_REMEMBERED = 10_000;
const attributed = new Set<string>();

/** The RFC 4122 URL namespace. */
const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

export function uuidV5(name: string, namespace: Buffer = URL_NAMESPACE): string {
  const h = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

/** Starts the attribution of a retrieved batch answer (the relayed, id-encoded JSON) if due. */
export function attributeBatch(rt: GatewayRuntime, ctx: RequestContext, t: JobTarget, json: string): void {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return;
  }
  if (!isObject(doc) || doc.status !== 'completed') return;
  if (typeof doc.id !== 'string' || typeof doc.output_file_id !== 'string' || doc.output_file_id === '')
    return;
  const batch = decodeId(doc.id).raw;
  const output = decodeId(doc.output_file_id).raw;
  if (!rawIdOk(output) || attributed.has(batch)) return;
  if (attributed.size >= MAX_REMEMBERED) {
    const oldest = attributed.values().next();
    if (!oldest.done) attributed.delete(oldest.value);
  }
  attributed.add(batch);
  const started = Date.now();
  download(rt, ctx, t, output)
    .then(
      (perModel) => publish(rt, ctx, t, batch, perModel, started),
      (err: unknown) => {
        attributed.delete(batch);
        rt.logger.warn(
          { request_id: ctx.id, model: t.alias, cause: String(err) },
          'batch usage attribution: output file download failed',
        );
      },
    )
    .catch((err: unknown) => rt.logger.error({ request_id: ctx.id, err }, 'batch usage attribution failed'));
}

/** Sums the output file's usage per provider model (`response.body.model`). */
async function download(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: JobTarget,
  output: string,
): Promise<Map<string, Usage>> {
  const prepared = prepareJobCall(t.adapter, {
    method: 'GET',
    path: `/files/${output}/content`,
    query: '',
    contentType: '',
    providerKey: t.pkv,
    requestId: ctx.id,
    inboundHeaders: {},
    templateVars: templateVars(ctx, t.model, modelView(t.model), t.pk.id, t.pkv),
    userAgent: rt.userAgent,
  });
  if (!prepared.ok) throw new Error(prepared.error.message);
  let p = prepared.request;
  if (t.adapter.authorize !== undefined) {
    const a = await t.adapter.authorize(p, {
      providerKey: t.pkv,
      http: adapterHttpFor(rt.upstreams.forKey(ctx.snapshot, t.pk.id)),
      now: Date.now(),
    });
    if (!a.ok) throw new Error(a.error.message);
    p = a.request;
  }
  const r = await rt.upstreams.forKey(ctx.snapshot, t.pk.id).request({
    origin: p.url.origin,
    path: p.url.pathname + p.url.search,
    method: 'GET',
    headers: p.headers,
    signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
  });
  if (r.statusCode < 200 || r.statusCode >= 300) {
    // Discarded (bounded); a bare destroy() would emit an unhandled stream error.
    await r.body.dump().catch(() => undefined);
    throw new Error(`upstream returned ${r.statusCode}`);
  }
  // Line by line as the file arrives (it can be large); a read error rejects the whole download.
  const perModel = new Map<string, Usage>();
  const lines = new LineReader((line) => addLine(perModel, line));
  for await (const chunk of r.body) lines.push(chunk as Buffer);
  lines.end();
  return perModel;
}

/**
 * Splits a byte stream into lines (`\n`, which never occurs inside a UTF-8 sequence), each
 * chunk scanned once: a line's pieces are joined only when it ends. A line longer than
 * `MAX_LINE` is not a batch output line: its bytes are dropped as they come and the line is
 * skipped, the lines after it still count.
 */
export class LineReader {
  private pieces: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = MAX_LINE,
  ) {}

  push(chunk: Buffer): void {
    let from = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
      this.take(chunk.subarray(from, nl));
      if (!this.skipping) {
        const n = this.pieces.length;
        const line = n === 1 ? (this.pieces[0] as Buffer) : Buffer.concat(this.pieces, this.size);
        this.onLine(line.toString('utf8'));
      }
      this.pieces = [];
      this.size = 0;
      this.skipping = false;
      from = nl + 1;
    }
    if (from < chunk.length) this.take(chunk.subarray(from));
  }

  end(): void {
    this.push(Buffer.from('\n'));
  }

  private take(piece: Buffer): void {
    if (this.skipping || piece.length === 0) return;
    this.size += piece.length;
    if (this.size > this.maxLine) {
      this.pieces = [];
      this.skipping = true;
    } else this.pieces.push(piece);
  }
}

/** One JSONL line of a batch output file; lines without tokens are skipped. */
export function addLine(perModel: Map<string, Usage>, line: string): void {
  if (line.trim() === '') return;
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch {
    return;
  }
  const body = isObject(doc) && isObject(doc.response) ? doc.response.body : undefined;
  if (!isObject(body) || !isObject(body.usage)) return;
  const u = body.usage;
  const prompt = num(u.prompt_tokens);
  const completion = num(u.completion_tokens);
  if (prompt === 0 && completion === 0) return;
  let model = typeof body.model === 'string' ? body.model : '';
  if (!perModel.has(model) && perModel.size >= MAX_MODELS) model = '';
  let sum = perModel.get(model);
  if (sum === undefined) {
    sum = emptyUsage();
    perModel.set(model, sum);
  }
  sum.prompt_tokens += prompt;
  sum.completion_tokens += completion;
  sum.total_tokens += prompt + completion;
  sum.cached_prompt_tokens += isObject(u.prompt_tokens_details)
    ? num(u.prompt_tokens_details.cached_tokens)
    : 0;
}

function publish(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: JobTarget,
  batch: string,
  perModel: Map<string, Usage>,
  started: number,
): void {
  if (perModel.size === 0 || !rt.usage.active) return;
  const several = perModel.size > 1;
  const ms = Date.now() - started;
  let i = 0;
  for (const [model, u] of perModel) {
    // Each event is its own record (own id) for the sinks, the download its one "attempt".
    const event: UsageEvent = {
      request_id: uuidV5(`aisix:batch:${batch}${several ? `:${i}` : ''}`),
      occurred_at: new Date().toISOString(),
      model_id: t.model.id,
      api_key_id: ctx.apiKey?.id ?? null,
      requested_model: t.alias,
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      cached_prompt_tokens: u.cached_prompt_tokens,
      reasoning_tokens: 0,
      cache_creation_tokens: 0,
      cache_read_tokens: 0,
      usage_estimated: false,
      upstream_latency_ms: ms,
      upstream_ttft_ms: null,
      downstream_latency_ms: ms,
      status_code: 200,
      provider_request_id: null,
      provider_model_version: model === '' ? null : model,
      finish_reason: null,
      cost_usd: costUsd(t.model, u),
      guardrail_blocked: false,
      guardrail_bypassed_reason: null,
      applied_guardrails: [],
      redacted_entity_counts: {},
      guardrail_monitor_hits: [],
      cache_status: 'disabled',
      cache_hit_layer: null,
      cache_similarity: null,
      cache_hit_saved_input_tokens: 0,
      cache_hit_saved_output_tokens: 0,
      inbound_protocol: 'batch',
      attempt_index: 0,
      attempt_kind: 'initial',
      attempt_model: model === '' ? null : model,
      error_class: null,
      error_message: null,
      provider_kind: t.provider,
      provider_featured: false,
      branded_provider: t.provider,
      pk_label: t.pkv.display_name ?? null,
      byo_label: null,
      client_source_ip: null,
      client_user_agent: null,
      endpoint: '/v1/batches/:id',
      attempt_started_at: new Date(started).toISOString(),
    };
    rt.usage.publish([event]);
    i++;
  }
}
