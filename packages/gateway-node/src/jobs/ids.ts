/**
 * Gateway-issued job ids: `aisix-` + unpadded base64url of `<raw id>;model,<model alias>`, so a
 * later call that carries only the id (retrieve, cancel, a batch's `input_file_id`) routes back
 * to the Model, and so the provider key, that created it. Ids the gateway cannot decode are raw
 * provider ids: callers may still use those, with a routing hint.
 *
 * Also here: the raw-id guard (an id is spliced into an upstream path, so it must not be able to
 * climb out of it) and the rewriting of ids in upstream JSON answers.
 */

export const ID_PREFIX = 'aisix-';
const SEP = ';model,';
const B64URL = /^[A-Za-z0-9_-]+$/;
const RAW_ID = /^[A-Za-z0-9\-_.:]{1,256}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeId(raw: string, alias: string): string {
  return ID_PREFIX + Buffer.from(`${raw}${SEP}${alias}`, 'utf8').toString('base64url');
}

export interface DecodedId {
  readonly raw: string;
  /** The routing Model's alias; undefined for a raw provider id. */
  readonly alias: string | undefined;
}

/**
 * Strict decoding: the unpadded base64url alphabet only, a canonical encoding (re-encoding gives
 * the same text), fatal UTF-8, and both halves around the last `;model,` non-empty. Anything else
 * is a raw id.
 */
export function decodeId(id: string): DecodedId {
  if (!id.startsWith(ID_PREFIX)) return { raw: id, alias: undefined };
  const b64 = id.slice(ID_PREFIX.length);
  if (!B64URL.test(b64) || b64.length % 4 === 1) return { raw: id, alias: undefined };
  const bytes = Buffer.from(b64, 'base64url');
  if (bytes.toString('base64url') !== b64) return { raw: id, alias: undefined };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { raw: id, alias: undefined };
  }
  const at = text.lastIndexOf(SEP);
  if (at <= 0 || at + SEP.length === text.length) return { raw: id, alias: undefined };
  return { raw: text.slice(0, at), alias: text.slice(at + SEP.length) };
}

/** Whether a raw id may be spliced into an upstream path. */
export function rawIdOk(raw: string): boolean {
  return RAW_ID.test(raw) && raw !== '.' && raw !== '..';
}

const ID_FIELDS = [
  'id',
  'input_file_id',
  'output_file_id',
  'error_file_id',
  'training_file',
  'validation_file',
] as const;

function encodeField(v: unknown, alias: string): unknown {
  return typeof v === 'string' && v !== '' && !v.startsWith(ID_PREFIX) ? encodeId(v, alias) : v;
}

/**
 * The ids of one JSON object answer, encoded for `alias`: the top-level id fields and each
 * string of `result_files[]`. Returns undefined when the text is not a JSON object (relayed
 * unchanged) or holds no id to rewrite.
 */
export function rewriteIds(text: string, alias: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  let changed = false;
  for (const f of ID_FIELDS) {
    const v = o[f];
    const e = encodeField(v, alias);
    if (e !== v) {
      o[f] = e;
      changed = true;
    }
  }
  if (Array.isArray(o.result_files)) {
    const files = o.result_files.map((v) => encodeField(v, alias));
    if (files.some((v, i) => v !== (o.result_files as unknown[])[i])) {
      o.result_files = files;
      changed = true;
    }
  }
  return changed ? JSON.stringify(o) : undefined;
}
