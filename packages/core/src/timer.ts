/**
 * The longest delay a Node timer holds (2^31-1 ms, about 24.8 days). Node turns a longer one
 * into 1 ms, so a duration taken from config or a resource (u64 in the contract) goes through
 * `timerMs` before it reaches `setTimeout`: past the range it means "practically never".
 */
export const MAX_TIMER_MS = 2_147_483_647;

export function timerMs(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}

/**
 * `downstream.idle_timeout_secs` as an http.Server `keepAliveTimeout` (0 = never close an idle
 * connection, not node's 5 s default). node arms the socket's timer 1 s past it, so the cap
 * leaves that second inside the range.
 */
export function keepAliveTimeoutMs(idleTimeoutSecs: number): number {
  return Math.min(idleTimeoutSecs * 1000, MAX_TIMER_MS - 1000);
}
