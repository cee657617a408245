/**
 * V8 heap tuning for the long-running server, set from here at startup (no wrapper, no
 * NODE_OPTIONS needed; both flags are read by V8 at every collection). An operator's own value
 * of either flag, on the command line or in NODE_OPTIONS, wins.
 *
 * - Old generation: under load most per-request objects die young, but those of requests in
 *   flight at a young-generation collection are promoted, and V8 lets the old generation grow to
 *   several times its live size before collecting it. On a replica that meant ~20 MB live and up
 *   to ~85 MB of old generation, RSS 170-200 MB after a c=128 burst. A growing factor of 1.25
 *   keeps it near 125-130 MB for the same traffic, for a few percent more CPU (bench/README.md).
 * - Young generation during boot: loading modules and building the first snapshot allocates fast
 *   enough for V8 to grow the young generation to 2 × 8 MB before the first request. Growth is
 *   held at 1× until the listeners are up, then V8's default (2×) applies: under traffic it grows
 *   as before, an idle replica stays ~7 MB smaller.
 * - Young generation cap (`--max-semi-space-size=8`, MB per semi-space; V8's default is 16):
 *   under load the young generation otherwise grows to 2 x 16 MB and stays there. 8 MB holds
 *   the garbage of a c=128 burst between scavenges (same CPU per request in bench/, 12-16 MB
 *   less RSS). V8 reads it only when the heap is created, so it cannot be set from here: the
 *   launchers pass it (Dockerfile, `pnpm start`, bench/) and the cluster primary gives it to the
 *   workers it forks (`launch`).
 * - Allocation-site pretenuring off: V8 may decide, from a few survivors during warm-up, that an
 *   allocation site makes long-lived objects and allocate all of its objects in the old
 *   generation from then on. Here nearly every object dies with its request, so a pretenured
 *   site (a stream's response head, node:http's request objects) turned every request's garbage
 *   into old-generation garbage: 3x the full collections and 15-20% more CPU per stream, at
 *   random from one start to the next (bench/README.md, "GC").
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 25;
/** Young-generation cap, MB per semi-space (see above). */
export const MAX_SEMI_SPACE_MB = 8;
/** V8's default semi-space growth factor, restored once the server runs. */
const SEMI_SPACE_GROWTH_DEFAULT = 2;

function given(execArgv: readonly string[], nodeOptions: string | undefined, flag: string): boolean {
  const re = new RegExp(`^--(no-)?${flag.replace(/-/g, '[-_]')}(=|$)`);
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((a) => re.test(a));
}

export interface HeapPlan {
  /** Set before loading the gateway. */
  readonly atBoot: string[];
  /** Set once the listeners are up. */
  readonly whenServing: string[];
  /** Node flags for the processes this one forks (they only work on a command line). */
  readonly launch: string[];
}

/** The V8 flags to set, leaving out any the operator chose. */
export function heapPlan(execArgv: readonly string[], nodeOptions: string | undefined): HeapPlan {
  const atBoot: string[] = [];
  const whenServing: string[] = [];
  const launch: string[] = [];
  if (!given(execArgv, nodeOptions, 'max-semi-space-size')) {
    launch.push(`--max-semi-space-size=${MAX_SEMI_SPACE_MB}`);
  }
  if (!given(execArgv, nodeOptions, 'heap-growing-percent')) {
    atBoot.push(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  }
  if (!given(execArgv, nodeOptions, 'semi-space-growth-factor')) {
    atBoot.push('--semi-space-growth-factor=1');
    whenServing.push(`--semi-space-growth-factor=${SEMI_SPACE_GROWTH_DEFAULT}`);
  }
  if (!given(execArgv, nodeOptions, 'allocation-site-pretenuring')) {
    atBoot.push('--no-allocation-site-pretenuring');
  }
  return { atBoot, whenServing, launch };
}

/** Applies the boot flags; returns the step to run once the server is up. */
export function tuneHeap(): () => void {
  const plan = heapPlan(process.execArgv, process.env.NODE_OPTIONS);
  for (const flag of plan.atBoot) setFlagsFromString(flag);
  return () => {
    for (const flag of plan.whenServing) setFlagsFromString(flag);
  };
}
