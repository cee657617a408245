/**
 * A chain over one text, local and remote members together: local members run inline or on the
 * scan worker (`offload.ts`), remote members call their vendors in parallel, each under its
 * `timeout_ms`; the verdict is folded in chain order (`chain.ts` `fold`). A vendor that cannot
 * answer (timeout, 4xx/5xx, a bad answer) is bypassed with the reason recorded, unless the
 * guardrail fails closed for that phase (`fail_open: false`, `mandatory: true`, or on output
 * without `output_fail_open: true`), which blocks.
 */
import { fold, type Judgement, type Outcome } from './chain.js';
import type { CompiledGuardrail } from './compile.js';
import { scanLocalText } from './offload.js';
import { type GuardrailHttp, type Phase, RemoteError } from './remote/http.js';

/**
 * `userText`: the input's user content alone (roles known), for members that judge only that
 * (`remote.userContentOnly`); without it they see `text`. Their findings are verdicts, not spans
 * (a block-only vendor), so nothing is mapped back into `text`.
 */
export function evaluate(
  chain: readonly CompiledGuardrail[],
  text: string,
  phase: Phase,
  http: GuardrailHttp,
  userText?: string,
): Judgement | Promise<Judgement> {
  if (!chain.some((g) => g.remote !== undefined)) {
    const o = scanLocalText(chain, text);
    return o instanceof Promise ? o.then((x) => fold(chain, x)) : fold(chain, o);
  }
  const local = chain.filter((g) => g.remote === undefined);
  const localOutcomes = scanLocalText(local, text);
  const remote = chain.map((g) =>
    g.remote === undefined
      ? undefined
      : callRemote(
          g,
          g.remote.userContentOnly && phase === 'input' && userText !== undefined ? userText : text,
          phase,
          http,
        ),
  );
  return Promise.all([localOutcomes, Promise.all(remote)]).then(([lo, ro]) => {
    let li = 0;
    const outcomes = chain.map((g, i) =>
      g.remote === undefined ? (lo[li++] as Outcome) : (ro[i] as Outcome),
    );
    return fold(chain, outcomes);
  });
}

async function callRemote(
  g: CompiledGuardrail,
  text: string,
  phase: Phase,
  http: GuardrailHttp,
): Promise<Outcome> {
  const r = g.remote;
  if (r === undefined || text.length === 0) return { findings: [], seconds: 0 };
  const t0 = performance.now();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), r.timeoutMs);
  try {
    const findings = await r.check.check(text, phase, http, ac.signal);
    return { findings, seconds: (performance.now() - t0) / 1000 };
  } catch (err) {
    const error = ac.signal.aborted ? 'timeout' : err instanceof RemoteError ? err.type : 'unreachable';
    return {
      findings: undefined,
      seconds: (performance.now() - t0) / 1000,
      error,
      closed: !r.failOpen[phase],
    };
  } finally {
    clearTimeout(timer);
  }
}
