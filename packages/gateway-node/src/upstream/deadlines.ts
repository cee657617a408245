/**
 * Per-attempt deadlines (data-plane §8.2). The first level that says something wins:
 * target model → routing group → deployment default. An explicit `0` on a model or group means
 * "no deadline" and stops the chain. `streamConfigured` tells whether the stream budget came
 * from a resource (then the first chunk is awaited before committing the 200) or from the
 * deployment backstop (then headers go out at once and heartbeats keep slow models alive).
 */
import { timerMs } from '@aisix/core';
import type { Settings } from '../config.js';
import type { ModelView } from '../resources.js';

export interface Deadlines {
  /** Whole non-streaming call; 0 = none. */
  readonly requestMs: number;
  /** Connect-to-headers and every gap between chunks; 0 = none. */
  readonly streamMs: number;
  readonly streamConfigured: boolean;
}

export function resolveDeadlines(target: ModelView, group: ModelView | undefined, s: Settings): Deadlines {
  // A resource's u64 past a timer's range means "practically none" (the settings are capped already).
  const t = target.timeout ?? group?.timeout;
  const resourceTimeout = t === undefined ? undefined : timerMs(t);
  const requestMs = resourceTimeout ?? s.timeoutMs;
  const st = target.stream_timeout || group?.stream_timeout;
  if (st) return { requestMs, streamMs: timerMs(st), streamConfigured: true };
  if (resourceTimeout !== undefined)
    return { requestMs, streamMs: resourceTimeout, streamConfigured: resourceTimeout > 0 };
  return { requestMs, streamMs: s.streamTimeoutMs || s.timeoutMs, streamConfigured: false };
}
