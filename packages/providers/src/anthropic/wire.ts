/**
 * Anthropic Messages API wire shapes, restated as far as the translations read or write them.
 *
 * These are structural descriptions, not validators: upstream JSON is read defensively (every
 * counter may be missing, unknown block and event types are skipped), so a new Anthropic field
 * never breaks parsing. The caller-facing OpenAI shapes live in `response.ts` and `stream.ts`.
 */

export const ANTHROPIC_VERSION = '2023-06-01';

export interface CacheControl {
  readonly type: 'ephemeral';
  readonly ttl?: '5m' | '1h';
}

export interface TextBlock {
  type: 'text';
  text: string;
  cache_control?: unknown;
  citations?: unknown;
}

export type ImageSource =
  | { readonly type: 'base64'; readonly media_type: string; readonly data: string }
  | { readonly type: 'url'; readonly url: string };

export interface ImageBlock {
  type: 'image';
  source: ImageSource;
  cache_control?: unknown;
}

export interface ToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: Record<string, unknown>;
  cache_control?: unknown;
}

export interface ToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content: string;
  cache_control?: unknown;
}

export type RequestBlock = TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock;

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: RequestBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: unknown;
  cache_control?: unknown;
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean };

/** The outbound request. Unknown caller fields (e.g. `top_k`, `thinking`) ride along verbatim. */
export interface AnthropicRequest {
  model?: string;
  system?: string | TextBlock[];
  messages: AnthropicMessage[];
  max_tokens: number;
  stream?: boolean;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  [extra: string]: unknown;
}

/** Response usage; every counter is optional on the wire. */
export interface AnthropicUsage {
  readonly input_tokens?: number;
  readonly output_tokens?: number;
  readonly cache_creation_input_tokens?: number | null;
  readonly cache_read_input_tokens?: number | null;
}

export interface AnthropicResponseBlock {
  readonly type?: string;
  readonly text?: string;
  readonly id?: string;
  readonly name?: string;
  readonly input?: unknown;
  readonly thinking?: string;
}

export interface AnthropicResponse {
  readonly id?: string;
  readonly type?: string;
  readonly model?: string;
  readonly content?: readonly AnthropicResponseBlock[];
  readonly stop_reason?: string | null;
  readonly usage?: AnthropicUsage;
}

/** Status of an in-band stream error by its type (the HTTP statuses Anthropic documents). */
export const ERROR_TYPE_STATUS: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};
