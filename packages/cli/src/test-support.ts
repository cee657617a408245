/**
 * Shared pieces of the CLI's end-to-end tests (not exported from the package): the paths of
 * the built binary, the environment a spawned `aisix` gets, and the upstream chat answer the
 * mock providers send.
 */
import { join } from 'node:path';

export const ROOT = process.env.AISIX_REPO_ROOT ?? new URL('../../../../', import.meta.url).pathname;
export const MAIN = join(ROOT, 'packages/cli/dist/src/main.js');

/** The test runner's environment without AISIX_* overrides, LOG_LEVEL or LOG_FORMAT, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AISIX_') && k !== 'LOG_LEVEL' && k !== 'LOG_FORMAT') env[k] = v;
  }
  return { ...env, ...extra };
}

/** A non-streaming OpenAI chat completion as an upstream sends it (1 + 1 tokens). */
export function chatCompletionBody(model: string, content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}
