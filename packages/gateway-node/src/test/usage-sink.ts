/** A usage sink for tests: every event the gateway offers is kept, in order, none dropped. */
import type { UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

export interface CollectingSink extends UsageSink {
  readonly events: UsageEvent[];
}

export function collectingSink(): CollectingSink {
  const events: UsageEvent[] = [];
  return {
    name: 'test',
    events,
    offer(e) {
      events.push(...e);
      return 0;
    },
  };
}
