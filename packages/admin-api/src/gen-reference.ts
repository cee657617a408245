/**
 * Renders the OpenAPI document as the Markdown page docs/admin-api-reference.md, so the
 * reference cannot drift from the served document (a test compares the committed page
 * with a fresh rendering). Regenerate with:
 *   node packages/admin-api/dist/src/gen-reference.js > docs/admin-api-reference.md
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument, type JsonObject } from './openapi.js';

type Schema = JsonObject;

const isObj = (x: unknown): x is JsonObject => typeof x === 'object' && x !== null && !Array.isArray(x);
const refName = (s: Schema): string | null =>
  typeof s.$ref === 'string' ? s.$ref.replace('#/components/schemas/', '') : null;
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(s: Schema): string {
  const r = refName(s);
  if (r !== null) return r;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((e) => JSON.stringify(e)).join(' | ');
  for (const k of ['anyOf', 'oneOf'] as const) {
    const alts = s[k];
    if (Array.isArray(alts)) return alts.filter(isObj).map(typeOf).join(' | ');
  }
  if (s.type === 'array') return `${isObj(s.items) ? typeOf(s.items) : 'any'}[]`;
  if (Array.isArray(s.type)) return s.type.join(' | ');
  if (typeof s.type === 'string') return s.type;
  if (Array.isArray(s.allOf)) return s.allOf.filter(isObj).map(typeOf).join(' & ');
  return 'any';
}

function notes(s: Schema): string {
  const out: string[] = [];
  const keys: [string, string][] = [
    ['minimum', '>='],
    ['maximum', '<='],
    ['exclusiveMinimum', '>'],
    ['exclusiveMaximum', '<'],
    ['minLength', 'min length '],
    ['maxLength', 'max length '],
    ['minItems', 'min items '],
    ['maxItems', 'max items '],
  ];
  for (const [k, label] of keys) if (s[k] !== undefined) out.push(`${label}${String(s[k])}`);
  if (typeof s.pattern === 'string') out.push(`pattern \`${s.pattern}\``);
  if (s.default !== undefined) out.push(`default \`${JSON.stringify(s.default)}\``);
  if (typeof s.description === 'string') out.push(s.description);
  return cell(out.join('; '));
}

/** Fields of an object schema as table rows, nested objects as dotted names (bounded depth). */
function fieldRows(s: Schema, prefix: string, depth: number, out: string[]): void {
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? s.required : []);
  for (const [name, raw] of Object.entries(props)) {
    if (!isObj(raw)) continue;
    const full = `${prefix}${name}`;
    out.push(`| \`${full}\` | ${cell(typeOf(raw))} | ${required.has(name) ? 'yes' : ''} | ${notes(raw)} |`);
    if (depth >= 3) continue;
    const inner = raw.type === 'array' && isObj(raw.items) ? raw.items : raw;
    const sep = inner === raw ? '.' : '[].';
    if (isObj(inner.properties)) fieldRows(inner, `${full}${sep}`, depth + 1, out);
  }
  if (isObj(s.additionalProperties)) {
    out.push(`| \`${prefix}*\` | ${cell(typeOf(s.additionalProperties))} |  | any other key |`);
  }
}

function schemaSection(name: string, s: Schema): string[] {
  const lines = [`### ${name}`, ''];
  if (typeof s.description === 'string') lines.push(s.description, '');
  const variants = [s.oneOf, s.anyOf].find(Array.isArray)?.filter(isObj);
  const blocks = variants && !isObj(s.properties) ? variants : [s];
  blocks.forEach((b, i) => {
    if (blocks.length > 1) lines.push(`Variant ${i + 1}:`, '');
    const rows: string[] = [];
    fieldRows(b, '', 0, rows);
    if (rows.length === 0) {
      lines.push(`Type: ${typeOf(b)}`, '');
      return;
    }
    lines.push('| Field | Type | Required | Notes |', '|---|---|---|---|', ...rows, '');
  });
  return lines;
}

function bodyName(content: unknown): string {
  if (!isObj(content)) return '';
  const media = Object.values(content)[0];
  if (!isObj(media) || !isObj(media.schema)) return '';
  return typeOf(media.schema);
}

export function renderReference(doc: JsonObject = buildOpenApiDocument()): string {
  const info = isObj(doc.info) ? doc.info : {};
  const lines: string[] = [
    '# Admin API reference',
    '',
    '<!-- Generated from the OpenAPI document by packages/admin-api/src/gen-reference.ts. Do not edit. -->',
    '',
    String(info.description ?? ''),
    '',
    'Auth: **admin** = `Authorization: Bearer <admin key>` (or `x-api-key` when no Authorization header is sent);',
    '**caller** = a caller API key, checked by the proxy; **none** = open.',
    '',
    '## Operations',
    '',
    '| Method | Path | Auth | Request body | 200 response | Errors | Summary |',
    '|---|---|---|---|---|---|---|',
  ];
  const paths = isObj(doc.paths) ? doc.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObj(item)) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!isObj(op)) continue;
      const secured = Array.isArray(op.security) && op.security.length > 0;
      const auth = secured ? 'admin' : op.operationId === 'playground' ? 'caller' : 'none';
      const req = isObj(op.requestBody) ? bodyName(op.requestBody.content) : '';
      const responses = isObj(op.responses) ? op.responses : {};
      const ok = isObj(responses['200']) ? bodyName(responses['200'].content) : '';
      const errs = Object.keys(responses)
        .filter((k) => k !== '200')
        .join(', ');
      lines.push(
        `| ${method.toUpperCase()} | \`${path}\` | ${auth} | ${cell(req)} | ${cell(ok)} | ${errs} | ${cell(String(op.summary ?? ''))} |`,
      );
    }
  }
  lines.push('', '## Schemas', '');
  const comps = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  for (const [name, s] of Object.entries(comps)) if (isObj(s)) lines.push(...schemaSection(name, s));
  return `${alignTables(lines).join('\n').trimEnd()}\n`;
}

/** Cells of a table row, split on pipes that are not escaped. */
function cellsOf(row: string): string[] {
  return row
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/**
 * Pads table columns to a common width, the way the repository's Markdown formatter (Biome)
 * prints them, so formatting the generated page is a no-op and the drift test stays exact.
 */
function alignTables(lines: string[]): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!lines[i]?.startsWith('|')) {
      out.push(lines[i] ?? '');
      i++;
      continue;
    }
    const block: string[][] = [];
    while (i < lines.length && lines[i]?.startsWith('|')) block.push(cellsOf(lines[i++] ?? ''));
    const widths: number[] = [];
    block.forEach((row, r) => {
      if (r === 1) return; // the separator row takes the computed width
      row.forEach((c, k) => {
        widths[k] = Math.max(widths[k] ?? 3, c.length);
      });
    });
    block.forEach((row, r) => {
      const cells = widths.map((w, k) => (r === 1 ? '-'.repeat(w) : (row[k] ?? '').padEnd(w)));
      out.push(`| ${cells.join(' | ')} |`);
    });
  }
  return out;
}

function isMain(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.stdout.write(renderReference());
