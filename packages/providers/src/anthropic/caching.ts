/**
 * Automatic prompt caching (Model `auto_prompt_caching`): cache breakpoints on the last system
 * block and on the last content block of the final message, so a long stable prefix is billed as
 * a cache read on the next turn.
 *
 * A caller who placed any `cache_control` already chose their breakpoints; adding ours could
 * exceed Anthropic's four-breakpoint limit, so the request is then left alone. An empty text
 * block never gets a marker (Anthropic rejects cache_control on empty text).
 */
import type { AnthropicRequest, CacheControl, RequestBlock, TextBlock } from './wire.js';

export interface AutoPromptCaching {
  readonly enabled: boolean;
  readonly ttl?: '5m' | '1h' | undefined;
}

function hasCacheControl(req: AnthropicRequest): boolean {
  const blocks: { cache_control?: unknown }[] = [
    ...(Array.isArray(req.system) ? req.system : []),
    ...req.messages.flatMap((m) => m.content),
    ...(req.tools ?? []),
  ];
  return blocks.some((b) => b.cache_control !== undefined);
}

function markable(b: RequestBlock | TextBlock | undefined): boolean {
  return b !== undefined && (b.type !== 'text' || b.text.trim() !== '');
}

/** Adds the breakpoints in place. */
export function applyAutoPromptCaching(req: AnthropicRequest, ttl: '5m' | '1h' = '5m'): void {
  if (hasCacheControl(req)) return;
  const marker: CacheControl = ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' };
  if (typeof req.system === 'string' && req.system.trim() !== '') {
    req.system = [{ type: 'text', text: req.system }];
  }
  if (Array.isArray(req.system)) {
    const last = req.system.at(-1);
    if (last && markable(last)) last.cache_control = { ...marker };
  }
  const lastBlock = req.messages.at(-1)?.content.at(-1);
  if (lastBlock && markable(lastBlock)) lastBlock.cache_control = { ...marker };
}
