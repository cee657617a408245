/**
 * Items handled together instead of one by one as they come: once `max` wait, or `delayMs` after
 * the first of them, or when `flush()` is called. Work done once per request after its response
 * closed ran on cold caches between two requests; the same code costs much less in a loop (the
 * access log, the OTLP spans and the per-request records each measured it: bench/README.md).
 */
export class DeferredBatch<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly max: number,
    private readonly delayMs: number,
    private readonly handle: (items: readonly T[]) => void,
  ) {}

  /** Items waiting. */
  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    if (this.items.length >= this.max) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, this.delayMs);
      // A batch never holds a process open; whoever stops the process flushes first.
      this.timer.unref();
    }
  }

  /** Handles what waits now (nothing when nothing waits). */
  readonly flush = (): void => {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.handle(items);
  };
}
