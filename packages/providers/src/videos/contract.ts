/**
 * The video-generation contract: what a vendor's asynchronous task API looks like to the
 * gateway's `/v1/videos` surface (submit a task, poll it, fetch the result). A vendor file is
 * data plus three small functions: the submit body, and the decoders of the submit and poll
 * answers. URL roots, credentials, the header pipeline and error parsing are shared
 * (`index.ts`).
 */

export type VideoStatus = 'queued' | 'in_progress' | 'completed' | 'failed';

/** A validated submit: `seconds` a positive integer, `size` already split. */
export interface VideoSubmit {
  /** Upstream model id. */
  readonly model: string;
  readonly prompt: string;
  readonly seconds?: number;
  readonly size?: { readonly width: number; readonly height: number };
}

export interface VideoTask {
  readonly taskId: string;
  readonly status: VideoStatus;
}

export interface VideoFailure {
  readonly code: string;
  readonly message: string;
}

export interface VideoState {
  readonly status: VideoStatus;
  /** 0-100. */
  readonly progress: number;
  /** Duration the provider reports, as a decimal string. */
  readonly seconds?: string;
  /** Where a redirect vendor serves the finished video. */
  readonly videoUrl?: string;
  /** The provider's failure detail, when it gave one. */
  readonly error?: VideoFailure;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

export interface VideoVendor {
  /** Canonical provider id (the first of `ids`). */
  readonly id: string;
  /** Model `provider` values served by this vendor (lower case). */
  readonly ids: readonly string[];
  /** `redirect`: content answers 302 to the provider's URL; `proxy`: the gateway relays bytes. */
  readonly delivery: 'redirect' | 'proxy';
  /** Public default base when the provider key has none (only OpenAI has one). */
  readonly defaultBase?: string;
  /** Path suffixes of a pasted `api_base`, one of which is stripped to find the root. */
  readonly rootSuffixes: readonly string[];
  readonly submitPath: string;
  pollPath(task: string): string;
  /** Proxy vendors: the path of the finished video's bytes. */
  contentPath?(task: string): string;
  /** Vendor headers per call (beyond credentials, request id and content type). */
  readonly headers?: {
    readonly submit?: Readonly<Record<string, string>>;
    readonly poll?: Readonly<Record<string, string>>;
  };
  body(s: VideoSubmit): Record<string, unknown>;
  parseSubmit(doc: unknown): Decoded<VideoTask>;
  parsePoll(doc: unknown): Decoded<VideoState>;
}
