/**
 * multipart/form-data, streamed: an incremental parser that turns request chunks into part
 * events without holding more than one chunk plus a delimiter's length of a part's body, and
 * the encoder for the body the gateway sends on. Used where a file must go upstream as it
 * arrives (`POST /v1/files`); the audio routes buffer instead (`multipart.ts`).
 *
 * The parser refuses what it cannot frame (a part without a parsable `Content-Disposition`
 * name, a header block over 16 KiB, a body that ends before the closing delimiter). The encoder
 * writes names and filenames the way browsers do (`"` and CR/LF percent-encoded), so caller
 * bytes can never open a part or a header of their own.
 */
import { type PartHead, partHead } from './multipart.js';

const MAX_HEAD = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

export type PartEvent =
  | { readonly type: 'part'; readonly head: PartHead }
  | { readonly type: 'data'; readonly bytes: Buffer }
  | { readonly type: 'part_end' };

export class MultipartError extends Error {}

type State = 'delimiter' | 'after_delimiter' | 'head' | 'body' | 'done';

export class MultipartParser {
  private readonly delim: Buffer;
  private buf: Buffer;
  private state: State = 'delimiter';

  constructor(boundary: string) {
    this.delim = Buffer.from(`\r\n--${boundary}`);
    // The first delimiter has no CRLF in front of it: one is supplied so every delimiter looks alike.
    this.buf = Buffer.from(CRLF);
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** The events a chunk completes, in order. Throws `MultipartError` on a malformed body. */
  push(chunk: Buffer): PartEvent[] {
    const out: PartEvent[] = [];
    if (this.state === 'done') return out;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (!this.step(out)) return out;
    }
  }

  /** The body ended: throws unless the closing delimiter was seen. */
  end(): void {
    if (this.state !== 'done') throw new MultipartError('malformed multipart body');
  }

  /** One state transition; false when more bytes are needed (or the body is done). */
  private step(out: PartEvent[]): boolean {
    const b = this.buf;
    switch (this.state) {
      case 'delimiter': {
        // Preamble: discarded up to the first delimiter.
        const at = b.indexOf(this.delim);
        if (at === -1) {
          this.buf = b.subarray(Math.max(0, b.length - this.delim.length + 1));
          return false;
        }
        this.buf = b.subarray(at + this.delim.length);
        this.state = 'after_delimiter';
        return true;
      }
      case 'after_delimiter': {
        if (b.length < 2) return false;
        if (b[0] === 0x2d && b[1] === 0x2d) {
          this.state = 'done';
          this.buf = Buffer.alloc(0);
          return false;
        }
        let i = 0;
        while (i < b.length && (b[i] === 0x20 || b[i] === 0x09)) i++;
        if (b.length - i < 2) return false;
        if (b[i] !== 0x0d || b[i + 1] !== 0x0a) throw new MultipartError('malformed multipart body');
        this.buf = b.subarray(i + 2);
        this.state = 'head';
        return true;
      }
      case 'head': {
        // A part without headers: the blank line comes at once.
        const at = b.subarray(0, 2).equals(CRLF) ? -2 : b.indexOf(HEAD_END);
        if (at === -1) {
          if (b.length > MAX_HEAD) throw new MultipartError('multipart part headers are too large');
          return false;
        }
        const head = partHead(at < 0 ? '' : b.subarray(0, at).toString('utf8'));
        if (head === undefined) throw new MultipartError('malformed multipart part header');
        out.push({ type: 'part', head });
        this.buf = b.subarray(at < 0 ? 2 : at + 4);
        this.state = 'body';
        return true;
      }
      case 'body': {
        const at = b.indexOf(this.delim);
        if (at === -1) {
          // Everything but a tail that could be the start of the delimiter is part data.
          const keep = Math.min(b.length, this.delim.length - 1);
          if (b.length > keep) out.push({ type: 'data', bytes: b.subarray(0, b.length - keep) });
          this.buf = b.subarray(b.length - keep);
          return false;
        }
        if (at > 0) out.push({ type: 'data', bytes: b.subarray(0, at) });
        out.push({ type: 'part_end' });
        this.buf = b.subarray(at + this.delim.length);
        this.state = 'after_delimiter';
        return true;
      }
      case 'done':
        return false;
    }
  }
}

/** `"` and CR/LF percent-encoded, as the HTML form encoder does for names and filenames. */
function quote(s: string): string {
  return `"${s.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22')}"`;
}

const SAFE_TYPE = /^[\x20-\x7e]{1,200}$/;

/** Builds an outgoing multipart body piece by piece (the caller writes the pieces in order). */
export class MultipartEncoder {
  readonly boundary = `----aisix${crypto.randomUUID().replaceAll('-', '')}`;
  readonly contentType = `multipart/form-data; boundary=${this.boundary}`;

  field(name: string, value: string): Buffer {
    return Buffer.from(
      `--${this.boundary}\r\nContent-Disposition: form-data; name=${quote(name)}\r\n\r\n${value}\r\n`,
    );
  }

  /** The head of a file part; its bytes follow, then `fileEnd()`. */
  fileHead(name: string, filename: string, contentType: string | undefined): Buffer {
    const type =
      contentType !== undefined && SAFE_TYPE.test(contentType) ? contentType : 'application/octet-stream';
    return Buffer.from(
      `--${this.boundary}\r\nContent-Disposition: form-data; name=${quote(name)}; filename=${quote(filename)}\r\nContent-Type: ${type}\r\n\r\n`,
    );
  }

  fileEnd(): Buffer {
    return CRLF;
  }

  close(): Buffer {
    return Buffer.from(`--${this.boundary}--\r\n`);
  }
}
