/**
 * multipart/form-data request bodies (audio transcriptions and translations), buffered within the
 * body cap: the `model` part can come after a 25 MB file part (the official SDKs put it wherever
 * the caller's object put it), and the model must be resolved and authorized before any byte
 * goes upstream, so the bytes are held anyway; holding them also lets a retry resend them.
 *
 * `parseMultipart` reads the parts the pipeline needs (`model`, small text fields for interceptors) and
 * remembers where the `model` value sits; `multipartPayload` returns the caller's bytes with only
 * that value replaced. Every other byte (file parts, boundary, part headers) is sent verbatim.
 *
 * Ambiguity is refused, not guessed: a content type with two boundaries, a second `model` part, a
 * `name*=` (RFC 5987) name, a part with two `Content-Disposition` headers, or a part without a
 * parsable name is a 400, so the upstream can never read a model the gateway did not authorize.
 */
import { isUtf8 } from 'node:buffer';
import { errors, type GatewayError } from '../errors.js';

type Json = Record<string, unknown>;

interface Multipart {
  readonly raw: Buffer;
  /** Byte range of the `model` part's value. */
  readonly start: number;
  readonly end: number;
  readonly boundary: string;
}

/** Text fields larger than this are not copied into the body object interceptors see. */
const MAX_TEXT_FIELD = 64 * 1024;
const BOUNDARY = /^[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]$/;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

const bodies = new WeakMap<Json, Multipart>();

/** The `boundary` of a multipart/form-data content type, or undefined for any other type. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const semi = contentType.indexOf(';');
  const mime = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (mime !== 'multipart/form-data' || semi === -1) return undefined;
  // Exactly one: the upstream receives this content type as is, and a parser that keeps the last
  // of two boundaries would frame other parts (another `model`) than the ones checked here.
  const boundaries = (splitParams(contentType.slice(semi + 1)) ?? []).filter((p) => p.name === 'boundary');
  if (boundaries.length !== 1) return undefined;
  const value = (boundaries[0] as Param).value;
  return BOUNDARY.test(value) ? value : undefined;
}

interface Param {
  readonly name: string;
  readonly value: string;
}

/** `; a=b; c="d;e"` → params (lower-case names; quoted values unescaped). */
function splitParams(s: string): Param[] | undefined {
  const out: Param[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ';' || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    const eq = s.indexOf('=', i);
    if (eq === -1) return undefined;
    const name = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
        i++;
      }
      if (s[i] !== '"') return undefined;
      i++;
    } else {
      const semi = s.indexOf(';', i);
      value = (semi === -1 ? s.slice(i) : s.slice(i, semi)).trim();
      i = semi === -1 ? s.length : semi;
    }
    out.push({ name, value });
  }
  return out;
}

export interface PartHead {
  readonly name: string;
  readonly file: boolean;
  /** The plain `filename` parameter (`filename*` counts as a file without a usable name). */
  readonly filename?: string;
  readonly contentType?: string;
}

/** A part's one `Content-Disposition` (exactly one plain `name`) and `Content-Type`. */
export function partHead(headers: string): PartHead | undefined {
  let head: PartHead | undefined;
  let contentType: string | undefined;
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const field = line.slice(0, colon).trim().toLowerCase();
    if (field === 'content-type') contentType = line.slice(colon + 1).trim();
    if (field !== 'content-disposition') continue;
    // A second disposition is ambiguous: a parser that keeps the last one reads another name.
    if (head !== undefined) return undefined;
    const v = line.slice(colon + 1);
    const semi = v.indexOf(';');
    if (semi === -1 || v.slice(0, semi).trim().toLowerCase() !== 'form-data') return undefined;
    const params = splitParams(v.slice(semi + 1));
    if (!params || params.some((p) => p.name === 'name*')) return undefined;
    const names = params.filter((p) => p.name === 'name');
    if (names.length !== 1) return undefined;
    const file = params.some((p) => p.name === 'filename' || p.name === 'filename*');
    const filename = params.find((p) => p.name === 'filename')?.value;
    head = { name: (names[0] as Param).value, file, ...(filename !== undefined ? { filename } : {}) };
  }
  if (head === undefined) return undefined;
  return contentType === undefined ? head : { ...head, contentType };
}

const bad = (detail: string) => errors.invalidBody(detail);

/**
 * Parses a buffered multipart body. Returns the body object the pipeline reads (`model` plus the
 * small text fields) or the 400 to answer. Content types other than multipart/form-data (JSON
 * sent to a multipart route included) are refused.
 */
export function parseMultipart(contentType: string | undefined, raw: Buffer): Json | GatewayError {
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) return bad('expected a multipart/form-data body with a boundary');
  const dash = Buffer.from(`--${boundary}`);
  const delim = Buffer.from(`\r\n--${boundary}`);
  // The first delimiter may open the body or follow a preamble.
  let pos: number;
  if (raw.subarray(0, dash.length).equals(dash)) pos = dash.length;
  else {
    const at = raw.indexOf(delim);
    if (at === -1) return bad('malformed multipart body');
    pos = at + delim.length;
  }
  const body: Json = {};
  let model: { start: number; end: number } | undefined;
  for (;;) {
    if (raw[pos] === 0x2d && raw[pos + 1] === 0x2d) break; // closing `--`
    // Transport padding, then the CRLF that ends the delimiter line.
    while (raw[pos] === 0x20 || raw[pos] === 0x09) pos++;
    if (!raw.subarray(pos, pos + 2).equals(CRLF)) return bad('malformed multipart body');
    pos += 2;
    const headEnd = raw.indexOf(HEADER_END, pos);
    if (headEnd === -1) return bad('malformed multipart body');
    const head = partHead(raw.subarray(pos, headEnd).toString('utf8'));
    if (!head) return bad('malformed multipart part header');
    const start = headEnd + 4;
    const end = raw.indexOf(delim, start);
    if (end === -1) return bad('malformed multipart body');
    if (head.name === 'model') {
      if (model || head.file) return bad('exactly one "model" field is required');
      model = { start, end };
    } else if (!head.file && end - start <= MAX_TEXT_FIELD && !Object.hasOwn(body, head.name)) {
      const v = raw.subarray(start, end);
      if (isUtf8(v)) body[head.name] = v.toString('utf8');
    }
    pos = end + delim.length;
  }
  if (!model) return bad('missing "model" field');
  const value = raw.subarray(model.start, model.end);
  if (value.length === 0 || !isUtf8(value)) return bad('missing "model" field');
  body.model = value.toString('utf8');
  bodies.set(body, { raw, start: model.start, end: model.end, boundary });
  return body;
}

/**
 * The caller's bytes with the `model` value replaced by `upstreamModel`; undefined when `body`
 * did not come from `parseMultipart` or the new value would break the framing.
 */
export function multipartPayload(body: Readonly<Json>, upstreamModel: string): Buffer | undefined {
  const m = bodies.get(body as Json);
  if (!m) return undefined;
  if (upstreamModel.includes('\r') || upstreamModel.includes('\n') || upstreamModel.includes(m.boundary))
    return undefined;
  return Buffer.concat([m.raw.subarray(0, m.start), Buffer.from(upstreamModel), m.raw.subarray(m.end)]);
}
