/**
 * Operational endpoints of the admin listener: health, model status, liveness and
 * readiness probes. They read what the composition root hands in (`AdminDeps`); the admin
 * package never reaches into the proxy for them.
 */
import { modelConfigFault, ReferenceIndex } from '@aisix/core';
import { AdminHttpError } from './errors.js';
import type { ResourceReader } from './reader.js';

export interface HealthInfo {
  snapshot_revision: number;
  snapshot_age_seconds: number | null;
}

/** 0 healthy, 1 degraded, 2 down. */
export type ModelHealth = 0 | 1 | 2;

/** A snapshot older than this counts as degraded. */
const STALE_SNAPSHOT_SECONDS = 300;
/** Bound on the model-status read; a hung store must not hang the probe. */
const MODEL_STATUS_TIMEOUT_MS = 5000;

export async function healthBody(
  reader: ResourceReader,
  config: HealthInfo | null,
  modelHealth: ((name: string) => ModelHealth) | undefined,
): Promise<Record<string, unknown>> {
  const docs = await reader.list('models');
  const models = docs.map((d) => {
    const name = typeof d.value.display_name === 'string' ? d.value.display_name : '';
    return { id: d.id, name, health: modelHealth?.(name) ?? 0 };
  });
  let status = 'ok';
  const stale =
    config !== null &&
    (config.snapshot_age_seconds === null || config.snapshot_age_seconds > STALE_SNAPSHOT_SECONDS);
  if (models.some((m) => m.health === 2)) status = 'unhealthy';
  else if (models.some((m) => m.health === 1) || stale) status = 'degraded';
  return config === null ? { status, models } : { status, models, config };
}

function modelShape(value: Record<string, unknown>): 'direct' | 'routing' | 'ensemble' | 'semantic' {
  if (value.routing !== undefined) return 'routing';
  if (value.ensemble !== undefined) return 'ensemble';
  if (value.semantic !== undefined) return 'semantic';
  return 'direct';
}

/**
 * Without a live status source (admin running without the proxy in this process) the
 * stored models are listed with the status a fresh gateway would report: virtual shapes
 * are `not_applicable`, direct models `healthy` until a check says otherwise, and a model
 * whose configuration cannot serve `unavailable` (core's `modelConfigFault`).
 */
async function statusFromStore(reader: ResourceReader): Promise<unknown[]> {
  const [docs, keys] = await Promise.all([reader.list('models'), reader.list('provider_keys')]);
  const index = new ReferenceIndex([
    ...docs.map((d) => ({ kind: 'models' as const, id: d.id, value: d.value })),
    ...keys.map((d) => ({ kind: 'provider_keys' as const, id: d.id, value: d.value })),
  ]);
  return docs.map((d) => {
    const kind = modelShape(d.value);
    const fault = modelConfigFault(d.value, index);
    if (fault !== null) {
      return {
        id: d.id,
        display_name: typeof d.value.display_name === 'string' ? d.value.display_name : '',
        kind,
        status: 'unavailable',
        status_reason: fault.reason,
        status_detail: fault.detail,
      };
    }
    return {
      id: d.id,
      display_name: typeof d.value.display_name === 'string' ? d.value.display_name : '',
      kind,
      status: kind === 'direct' ? 'healthy' : 'not_applicable',
    };
  });
}

export async function modelStatusBody(
  reader: ResourceReader,
  source: (() => Promise<unknown[]> | unknown[]) | undefined,
): Promise<unknown[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), MODEL_STATUS_TIMEOUT_MS);
  });
  try {
    const work = source ? Promise.resolve().then(source) : statusFromStore(reader);
    return await Promise.race([work, timeout]);
  } catch {
    // No backend detail here, as on the proxy's /status/models.
    throw new AdminHttpError(500, 'failed to list models');
  } finally {
    clearTimeout(timer);
  }
}

export interface Readiness {
  shuttingDown: boolean;
  configApplied: boolean;
}

function probeResponse(ok: boolean, verbose: boolean, lines: string[], name: string): Response {
  const body = verbose || !ok ? `${lines.join('\n')}\n${name} check ${ok ? 'passed' : 'failed'}` : 'ok';
  return new Response(body, {
    status: ok ? 200 : 503,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
  });
}

export function livez(r: Readiness, verbose: boolean): Response {
  const lines = ['[+]ping ok', r.shuttingDown ? '[-]shutdown failed: reason withheld' : '[+]shutdown ok'];
  return probeResponse(!r.shuttingDown, verbose, lines, 'livez');
}

/** In file mode the admin listener's readiness only checks shutdown (config is always applied). */
export function readyz(r: Readiness, verbose: boolean, fileMode: boolean): Response {
  const configOk = fileMode || r.configApplied;
  const lines = [
    r.shuttingDown ? '[-]shutdown failed: draining' : '[+]shutdown ok',
    configOk ? '[+]config ok' : '[-]config failed: not ready',
  ];
  return probeResponse(!r.shuttingDown && configOk, verbose, lines, 'readyz');
}
