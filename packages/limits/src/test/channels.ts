/**
 * Test helpers: an in-process message channel pair that behaves like node's IPC (asynchronous
 * delivery, JSON serialization, so `undefined` fields vanish as they do on a cluster channel),
 * and a way to cut one direction to simulate a primary that stops answering.
 */
import type { MessageChannel } from '../shared-store.js';

export interface TestChannel extends MessageChannel {
  /** While true, messages sent on this end are dropped. */
  mute: boolean;
  /** Delivery delay of messages sent on this end (ms; 0 = next turn of the event loop). */
  delayMs: number;
}

export function channelPair(): [TestChannel, TestChannel] {
  const handlers: [((m: unknown) => void)[], ((m: unknown) => void)[]] = [[], []];
  const end = (mine: 0 | 1): TestChannel => {
    const ch: TestChannel = {
      mute: false,
      delayMs: 0,
      send(msg) {
        if (ch.mute) return;
        const copy = JSON.parse(JSON.stringify(msg)) as unknown;
        const deliver = () => {
          for (const h of handlers[mine === 0 ? 1 : 0]) h(copy);
        };
        if (ch.delayMs > 0) setTimeout(deliver, ch.delayMs);
        else setImmediate(deliver);
      },
      onMessage(fn) {
        handlers[mine].push(fn);
      },
    };
    return ch;
  };
  return [end(0), end(1)];
}
