/**
 * The AISIX admin console: one browser module, no dependencies, no inline code (the page's
 * CSP allows only this origin's script and style). See docs/console.md.
 *
 * Forms are rendered from the JSON Schemas in `manifest.json` (the OpenAPI components, made
 * from the same valibot schemas the Admin API validates with): one input per top-level field
 * by type, a JSON box with the field's schema for nested objects, and an "Edit as JSON" mode
 * for the whole document. The server stays the judge: the form sends what was typed and maps
 * a 400's JSON pointer back to the field it names.
 *
 * The admin key lives in sessionStorage (this tab only) and leaves the page only as the
 * `Authorization` header of same-origin API calls; it is never put in a URL.
 */

type Schema = { [key: string]: unknown };

interface KindInfo {
  readonly kind: string;
  readonly path: string;
  readonly type: string;
  readonly create_type: string;
  readonly name_field: string | null;
  readonly secret_paths: readonly string[];
  readonly rotate: boolean;
}

interface Manifest {
  readonly kinds: readonly KindInfo[];
  readonly schemas: { [name: string]: Schema };
}

interface ApiResult {
  readonly status: number;
  readonly body: unknown;
}

const API = '/admin/v1';
const KEY_SLOT = 'aisix.console.admin_key';
const VERSION = new URL(import.meta.url).searchParams.get('v') ?? '';

/** Reference fields offered as a pick list of existing resources. */
const REFS: { [field: string]: string } = {
  provider_key_id: 'provider_keys',
  guardrail_id: 'guardrails',
};
/** String-list fields with one-click suggestions (names of existing resources). */
const SUGGEST: { [field: string]: string } = { allowed_models: 'models' };
/** Nav order: the first-traffic path first, then the manifest's order. */
const FIRST = ['provider_keys', 'models', 'api_keys'];
const ACRONYMS: { [word: string]: string } = { api: 'API', mcp: 'MCP', a2a: 'A2A', oidc: 'OIDC' };

const isObj = (x: unknown): x is Schema => typeof x === 'object' && x !== null && !Array.isArray(x);

// ---------------------------------------------------------------------------------------
// DOM

type Child = Node | string | null | undefined | false;
type Attrs = { [name: string]: string | number | boolean | undefined | ((ev: Event) => void) };

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** A button whose async action reports its failure on the page (a 401 has signed out already). */
function button(
  label: string,
  action: (ev: Event) => void | Promise<void>,
  cls = '',
  extra: Attrs = {},
): HTMLButtonElement {
  const onclick = (ev: Event) => {
    const r = action(ev);
    if (r instanceof Promise)
      r.catch((err: unknown) => {
        if (!(err instanceof SignedOut)) main?.prepend(notice('error', `Request failed: ${String(err)}`));
      });
  };
  return h('button', { type: 'button', class: cls, onclick, ...extra }, label);
}

function notice(kind: 'ok' | 'error' | 'info', text: string): HTMLElement {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

function short(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** `api_keys` -> `API keys` (or `API key`); acronyms keep their case. */
function nounOf(path: string, plural = true): string {
  const words = path.split('_');
  if (!plural) {
    const last = words.pop() ?? '';
    words.push(last.endsWith('ies') ? `${last.slice(0, -3)}y` : last.replace(/s$/, ''));
  }
  return words.map((w) => ACRONYMS[w] ?? w).join(' ');
}

function labelOf(path: string, plural = true): string {
  const n = nounOf(path, plural);
  return n.charAt(0).toUpperCase() + n.slice(1);
}

// ---------------------------------------------------------------------------------------
// API

class SignedOut extends Error {}

/** `ifRevision`: the write lands only while the resource is at that revision (412 otherwise). */
async function api(method: string, path: string, body?: unknown, ifRevision?: number): Promise<ApiResult> {
  const headers: { [k: string]: string } = {
    authorization: `Bearer ${sessionStorage.getItem(KEY_SLOT) ?? ''}`,
  };
  if (ifRevision !== undefined && Number.isInteger(ifRevision)) headers['if-match'] = `"${ifRevision}"`;
  let payload: string | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload, cache: 'no-store', credentials: 'omit' });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  if (res.status === 401) {
    signOut('The admin key was rejected (401). Sign in again.');
    throw new SignedOut();
  }
  return { status: res.status, body: parsed };
}

function errorText(r: ApiResult): string {
  if (isObj(r.body) && typeof r.body.error_msg === 'string') return r.body.error_msg;
  return typeof r.body === 'string' && r.body !== ''
    ? `HTTP ${r.status}: ${short(r.body)}`
    : `HTTP ${r.status}`;
}

interface Entry {
  id: string;
  value: Schema;
  revision: number;
}

function entries(r: ApiResult): Entry[] {
  return Array.isArray(r.body) ? r.body.filter((e): e is Entry => isObj(e) && isObj(e.value)) : [];
}

function entryName(kind: KindInfo, e: Entry): string {
  const v = e.value;
  for (const f of ['display_name', 'name', kind.name_field ?? '']) {
    const x = v[f];
    if (typeof x === 'string' && x !== '') return x;
  }
  return e.id;
}

// ---------------------------------------------------------------------------------------
// Schemas

let manifest: Manifest = { kinds: [], schemas: {} };

function deref(s: unknown): Schema {
  let cur = s;
  for (let i = 0; i < 16 && isObj(cur) && typeof cur.$ref === 'string'; i++) {
    const name = cur.$ref.replace('#/components/schemas/', '');
    cur = manifest.schemas[name];
  }
  return isObj(cur) ? cur : {};
}

/** `anyOf: [X, {type: null}]` -> X (an empty input means "absent" either way). */
function unwrapNullable(s: Schema): Schema {
  const any = s.anyOf;
  if (!Array.isArray(any)) return s;
  const rest = any.filter((b) => !(isObj(b) && b.type === 'null'));
  return rest.length === 1 ? deref(rest[0]) : s;
}

interface Variants {
  readonly tag: string;
  readonly branches: Map<string, Schema>;
}

/** A root `oneOf` whose branches share one `const` property (guardrail and exporter `kind`). */
function variantsOf(root: Schema): Variants | null {
  if (!Array.isArray(root.oneOf)) return null;
  const branches = root.oneOf.map(deref);
  const first = branches[0];
  if (first === undefined || !isObj(first.properties)) return null;
  for (const tag of Object.keys(first.properties)) {
    const map = new Map<string, Schema>();
    for (const b of branches) {
      const p = isObj(b.properties) ? b.properties[tag] : undefined;
      if (isObj(p) && typeof p.const === 'string') map.set(p.const, b);
    }
    if (map.size === branches.length) return { tag, branches: map };
  }
  return null;
}

const stringItems = (s: unknown): boolean => {
  const it = deref(s);
  return it.type === 'string' || (Array.isArray(it.enum) && it.enum.every((e) => typeof e === 'string'));
};

function hintOf(s: Schema): string {
  const parts: string[] = [];
  if (typeof s.description === 'string') parts.push(s.description);
  if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
  if (typeof s.pattern === 'string') parts.push(`pattern ${s.pattern}`);
  const big = 9007199254740991;
  if (typeof s.minimum === 'number' && typeof s.maximum === 'number' && s.maximum < big)
    parts.push(`${s.minimum}–${s.maximum}`);
  else if (typeof s.minimum === 'number') parts.push(`≥ ${s.minimum}`);
  if (typeof s.minLength === 'number' && s.minLength > 0) parts.push('non-empty');
  return parts.join(' · ');
}

// ---------------------------------------------------------------------------------------
// Fields

type Widget = 'text' | 'secret' | 'integer' | 'number' | 'bool' | 'enum' | 'ref' | 'lines' | 'json';
type Read = { ok: true; value: unknown } | { ok: false; message: string };

interface Field {
  readonly name: string;
  readonly widget: Widget;
  readonly required: boolean;
  readonly wrap: HTMLElement;
  readonly input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  readonly error: HTMLElement;
  read(): Read;
  fill(v: unknown): void;
}

interface FieldCtx {
  readonly kind: KindInfo;
  readonly editing: boolean;
  /** Lists of referenced kinds, by kind path. */
  readonly lists: Map<string, Entry[]>;
}

function widgetFor(name: string, s: Schema, ctx: FieldCtx): Widget {
  if (REFS[name] !== undefined && (ctx.lists.get(REFS[name] ?? '')?.length ?? 0) > 0) return 'ref';
  if (typeof s.const === 'string' || (Array.isArray(s.enum) && s.enum.every((e) => typeof e === 'string')))
    return 'enum';
  if (s.type === 'boolean') return 'bool';
  if (s.type === 'integer') return 'integer';
  if (s.type === 'number') return 'number';
  if (s.type === 'string') return ctx.kind.secret_paths.includes(name) ? 'secret' : 'text';
  if (s.type === 'array' && stringItems(s.items)) return 'lines';
  return 'json';
}

function option(value: string, label: string, selected = false): HTMLOptionElement {
  const o = h('option', { value }, label);
  o.selected = selected;
  return o;
}

function selectOf(id: string, values: string[], blank: string | null): HTMLSelectElement {
  const sel = h('select', { id });
  if (blank !== null) sel.append(option('', blank));
  for (const v of values) sel.append(option(v, v));
  return sel;
}

function ensureOption(sel: HTMLSelectElement, value: string): void {
  if (![...sel.options].some((o) => o.value === value)) sel.append(option(value, value));
  sel.value = value;
}

function makeField(name: string, raw: Schema, required: boolean, ctx: FieldCtx, tagValues?: string[]): Field {
  const s = unwrapNullable(deref(raw));
  const widget: Widget = tagValues !== undefined ? 'enum' : widgetFor(name, s, ctx);
  const id = `f-${name}`;
  const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const hint = hintOf(s);
  let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  const extras: Child[] = [];

  const text = (v: string) => (v === '' ? undefined : v);
  let read: () => Read;
  let fill: (v: unknown) => void;

  switch (widget) {
    case 'enum': {
      const values =
        tagValues ?? (typeof s.const === 'string' ? [s.const] : (s.enum as unknown[]).map((e) => String(e)));
      const blank = required
        ? '— choose —'
        : s.default !== undefined
          ? `(default: ${String(s.default)})`
          : '—';
      const sel = selectOf(id, values, tagValues !== undefined ? null : blank);
      input = sel;
      read = () => ({ ok: true, value: text(sel.value) });
      fill = (v) => ensureOption(sel, String(v));
      break;
    }
    case 'ref': {
      const list = ctx.lists.get(REFS[name] ?? '') ?? [];
      const refKind = manifest.kinds.find((k) => k.path === REFS[name]);
      const sel = h('select', { id }, option('', '— choose —'));
      for (const e of list) sel.append(option(e.id, refKind ? `${entryName(refKind, e)} (${e.id})` : e.id));
      input = sel;
      read = () => ({ ok: true, value: text(sel.value) });
      fill = (v) => ensureOption(sel, String(v));
      break;
    }
    case 'bool': {
      const blank = s.default !== undefined ? `(default: ${String(s.default)})` : '—';
      const sel = selectOf(id, ['true', 'false'], blank);
      input = sel;
      read = () => ({ ok: true, value: sel.value === '' ? undefined : sel.value === 'true' });
      fill = (v) => {
        sel.value = v === true ? 'true' : v === false ? 'false' : '';
      };
      break;
    }
    case 'integer':
    case 'number': {
      const inp = h('input', { id, type: 'text', inputmode: widget === 'integer' ? 'numeric' : 'decimal' });
      input = inp;
      read = () => {
        const t = inp.value.trim();
        if (t === '') return { ok: true, value: undefined };
        const n = Number(t);
        return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: 'must be a number' };
      };
      fill = (v) => {
        inp.value = v === null || v === undefined ? '' : String(v);
      };
      break;
    }
    case 'text':
    case 'secret': {
      const secret = widget === 'secret';
      const inp = h('input', {
        id,
        type: secret ? 'password' : 'text',
        autocomplete: 'off',
        spellcheck: 'false',
      });
      input = inp;
      read = () => ({ ok: true, value: text(inp.value) });
      fill = (v) => {
        if (secret) {
          // The read is masked (****ab12): leaving the box empty keeps the stored secret.
          inp.value = '';
          inp.placeholder = `${typeof v === 'string' ? v : 'stored'} — leave empty to keep`;
        } else inp.value = v === null || v === undefined ? '' : String(v);
      };
      break;
    }
    case 'lines': {
      const ta = h('textarea', { id, rows: 3, spellcheck: 'false', placeholder: 'one per line' });
      input = ta;
      read = () => {
        const items = ta.value
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '');
        return { ok: true, value: items.length === 0 && !required ? undefined : items };
      };
      fill = (v) => {
        ta.value = Array.isArray(v) ? v.map(String).join('\n') : '';
      };
      const from = SUGGEST[name];
      const names =
        from === undefined
          ? []
          : (ctx.lists.get(from) ?? []).map((e) => String(e.value.display_name ?? e.id));
      if (from !== undefined) {
        const add = (n: string) => () => {
          const cur = ta.value.split('\n').map((l) => l.trim());
          if (!cur.includes(n)) ta.value = [...cur.filter((l) => l !== ''), n].join('\n');
        };
        extras.push(
          h(
            'p',
            { class: 'suggest' },
            'Add: ',
            ...['*', ...names].map((n) => button(n, add(n), 'chip', { 'data-suggest': n })),
          ),
        );
      }
      break;
    }
    case 'json': {
      const ta = h('textarea', { id, rows: 4, spellcheck: 'false', class: 'code', placeholder: 'JSON' });
      input = ta;
      read = () => {
        const t = ta.value.trim();
        if (t === '') return { ok: true, value: undefined };
        try {
          return { ok: true, value: JSON.parse(t) as unknown };
        } catch {
          return { ok: false, message: 'not valid JSON' };
        }
      };
      fill = (v) => {
        ta.value = v === undefined ? '' : JSON.stringify(v, null, 2);
      };
      extras.push(
        h(
          'details',
          { class: 'schema' },
          h('summary', {}, 'schema'),
          h('pre', {}, JSON.stringify(expand(s), null, 2)),
        ),
      );
      break;
    }
  }
  if (name === 'key_hash' && !ctx.editing) {
    (input as HTMLInputElement).placeholder = 'leave empty to generate a key (shown once)';
  }
  const wrap = h(
    'div',
    { class: 'field', 'data-pointer': `/${name}`, 'data-widget': widget },
    h('label', { for: id }, name, required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
    input,
    ...extras,
    hint !== '' ? h('p', { class: 'hint' }, hint) : null,
    error,
  );
  return { name, widget, required, wrap, input, error, read, fill };
}

/** A schema with its `$ref`s inlined (bounded), for the schema help of JSON fields. */
function expand(s: unknown, depth = 0): unknown {
  if (Array.isArray(s)) return s.map((x) => expand(x, depth));
  if (!isObj(s)) return s;
  if (typeof s.$ref === 'string') return depth > 4 ? s : expand(deref(s), depth + 1);
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) out[k] = expand(v, depth);
  return out;
}

// ---------------------------------------------------------------------------------------
// Error pointers

/**
 * Where a 400 points. Schema failures read `... at /a/b: text` (a JSON pointer; a missing
 * property is reported at its parent, with the name quoted); other checks that name a
 * pointer (`... at /a/b`) are placed too, with the whole message. Returns the top-level field.
 */
function errorLocation(message: string): { field: string; pointer: string; text: string } | null {
  const m = /\bat (\/[^\s:]*|): (.*)$/s.exec(message) ?? /\bat (\/[^\s:,;)]+)()/.exec(message);
  if (m === null) return null;
  const pointer = m[1] ?? '';
  const text = m[2] === '' ? message : (m[2] ?? message);
  const segs = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let field = segs[0];
  if (field === undefined) {
    const q = /^"((?:[^"\\]|\\.)*)" is a required property|^unknown field "((?:[^"\\]|\\.)*)"/.exec(text);
    const name = q?.[1] ?? q?.[2];
    if (name !== undefined) field = JSON.parse(`"${name}"`) as string;
  }
  return field === undefined ? null : { field, pointer, text };
}

// ---------------------------------------------------------------------------------------
// Shell and routing

const root = document.getElementById('app') ?? document.body;
let renderSeq = 0;
let flash: { kind: 'ok' | 'error'; text: string } | null = null;
/** A generated key waiting to be shown once, on the next list view. Memory only. */
let pendingSecret: { title: string; plaintext: string } | null = null;
let main: HTMLElement | null = null;
let nav: HTMLElement | null = null;

function kindsInNavOrder(): KindInfo[] {
  const rank = (k: KindInfo) => {
    const i = FIRST.indexOf(k.path);
    return i === -1 ? FIRST.length : i;
  };
  return [...manifest.kinds].sort((a, b) => rank(a) - rank(b));
}

function signOut(message?: string): void {
  sessionStorage.removeItem(KEY_SLOT);
  main = null;
  nav = null;
  renderLogin(message);
}

function renderShell(): HTMLElement {
  if (main !== null && nav !== null && main.isConnected) return main;
  const link = (href: string, text: string) => h('a', { href }, text);
  nav = h(
    'nav',
    { class: 'side', 'aria-label': 'Sections' },
    h('h2', {}, 'Resources'),
    h('ul', {}, ...kindsInNavOrder().map((k) => h('li', {}, link(`#/r/${k.path}`, labelOf(k.path))))),
    h('h2', {}, 'Operations'),
    h(
      'ul',
      {},
      h('li', {}, link('#/health', 'Model health')),
      h('li', {}, link('#/config', 'Config status')),
      h('li', {}, link('#/audit', 'Audit trail')),
      h(
        'li',
        {},
        h('a', { href: '/admin/openapi-scalar', target: '_blank', rel: 'noopener' }, 'API reference'),
      ),
    ),
  );
  main = h('main', { id: 'main', tabindex: '-1' });
  const header = h(
    'header',
    { class: 'top' },
    h('a', { href: '#/', class: 'brand' }, 'AISIX console'),
    button('Sign out', () => signOut(), 'secondary', { id: 'sign-out' }),
  );
  root.replaceChildren(header, h('div', { class: 'layout' }, nav, main));
  return main;
}

function markNav(hash: string): void {
  for (const a of nav?.querySelectorAll('a') ?? []) {
    const href = a.getAttribute('href') ?? '';
    const on = href.startsWith('#/') && (hash === href || hash.startsWith(`${href}/`));
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Mounts a view unless a newer navigation started meanwhile. */
function mount(seq: number, ...nodes: Node[]): void {
  if (seq !== renderSeq || main === null) return;
  const f = flash;
  flash = null;
  main.replaceChildren(...(f ? [notice(f.kind, f.text)] : []), ...nodes);
}

async function route(): Promise<void> {
  const seq = ++renderSeq;
  if (!sessionStorage.getItem(KEY_SLOT)) {
    renderLogin();
    return;
  }
  const m = renderShell();
  const hash = location.hash || '#/';
  markNav(hash);
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .map((p) => decodeURIComponent(p));
  m.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const [section, a, b] = parts;
    if (section === 'r' && a !== undefined) {
      const kind = manifest.kinds.find((k) => k.path === a);
      if (kind === undefined) mount(seq, notice('error', `Unknown resource kind "${a}".`));
      else if (b === undefined || b === '') await listView(seq, kind);
      else await formView(seq, kind, b === 'new' ? null : b);
    } else if (section === 'health') await healthView(seq);
    else if (section === 'config') await configView(seq);
    else if (section === 'audit') await auditView(seq);
    else location.replace('#/r/provider_keys');
  } catch (err) {
    if (err instanceof SignedOut) return;
    mount(seq, notice('error', `Something went wrong: ${err instanceof Error ? err.message : String(err)}`));
  }
}

function renderLogin(message?: string): void {
  const key = h('input', {
    id: 'admin-key',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const err = h('p', { class: 'notice error', role: 'alert', hidden: message === undefined }, message ?? '');
  const form = h(
    'form',
    { class: 'login', novalidate: true },
    h('h1', {}, 'AISIX console'),
    h('label', { for: 'admin-key' }, 'Admin key'),
    key,
    h('button', { type: 'submit', id: 'sign-in' }, 'Sign in'),
    err,
    h(
      'p',
      { class: 'hint' },
      'An admin key from admin.admin_keys. It stays in this tab (session storage) and is sent only as the ' +
        'Authorization header of this server’s Admin API calls.',
    ),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void signIn(key.value.trim(), err);
  });
  root.replaceChildren(h('main', { class: 'center' }, form));
  key.focus();
}

async function signIn(key: string, err: HTMLElement): Promise<void> {
  const fail = (text: string) => {
    err.textContent = text;
    err.hidden = false;
  };
  if (key === '') return fail('Enter an admin key.');
  let status: number;
  try {
    const res = await fetch(`${API}/health`, {
      headers: { authorization: `Bearer ${key}` },
      cache: 'no-store',
      credentials: 'omit',
    });
    status = res.status;
  } catch {
    return fail('The Admin API cannot be reached.');
  }
  if (status === 401) return fail('That admin key was rejected.');
  sessionStorage.setItem(KEY_SLOT, key);
  if (!location.hash || location.hash === '#/') location.hash = '#/r/provider_keys';
  else await route();
}

// ---------------------------------------------------------------------------------------
// Resource list

function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return short(v.map((x) => (isObj(x) ? JSON.stringify(x) : String(x))).join(', '), 60);
  if (isObj(v)) return short(JSON.stringify(v), 60);
  return short(String(v), 60);
}

/** Up to four top-level scalar (or list-of-scalar) fields worth a column. */
function summaryFields(kind: KindInfo, list: Entry[]): string[] {
  const skip = new Set(['display_name', 'name', 'key_hash']);
  const out: string[] = [];
  for (const e of list) {
    for (const [k, v] of Object.entries(e.value)) {
      if (out.length >= 4 || skip.has(k) || out.includes(k) || kind.secret_paths.includes(k)) continue;
      const scalar = (x: unknown) => x === null || ['string', 'number', 'boolean'].includes(typeof x);
      if (scalar(v) || (Array.isArray(v) && v.every(scalar))) out.push(k);
    }
  }
  return out;
}

function oncePanel(title: string, plaintext: string): HTMLElement {
  const code = h('code', { id: 'plaintext', class: 'secret' }, plaintext);
  const panel: HTMLElement = h(
    'section',
    { class: 'once', role: 'alert', 'aria-labelledby': 'once-title' },
    h('h2', { id: 'once-title' }, title),
    h('p', {}, 'Copy it now: this is the only time the key is shown. The gateway stores only its hash.'),
    code,
    h(
      'p',
      {},
      button('Copy', () => {
        void navigator.clipboard?.writeText(plaintext).catch(() => undefined);
        getSelection()?.selectAllChildren(code);
      }),
      ' ',
      button('Done', () => panel.remove(), 'secondary', { id: 'once-done' }),
    ),
  );
  return panel;
}

async function listView(seq: number, kind: KindInfo): Promise<void> {
  const label = labelOf(kind.path);
  const r = await api('GET', `${API}/${kind.path}`);
  if (r.status !== 200) return mount(seq, h('h1', {}, label), notice('error', errorText(r)));
  const list = entries(r);
  const once = pendingSecret;
  pendingSecret = null;
  const cols = summaryFields(kind, list);
  const status = h('div', { class: 'row-status' });
  const rowActions = (e: Entry): HTMLElement => {
    const name = entryName(kind, e);
    const del = button(
      'Delete',
      async () => {
        if (!confirm(`Delete ${nounOf(kind.path, false)} "${name}"?`)) return;
        const d = await api('DELETE', `${API}/${kind.path}/${encodeURIComponent(e.id)}`);
        if (d.status === 200) {
          flash = { kind: 'ok', text: `Deleted "${name}".` };
          await route();
        } else status.replaceChildren(notice('error', `Delete failed: ${errorText(d)}`));
      },
      'danger',
    );
    const rot = kind.rotate
      ? button('Rotate', async () => {
          if (!confirm(`Rotate "${name}"? The current key stops working.`)) return;
          const x = await api('POST', `${API}/${kind.path}/${encodeURIComponent(e.id)}/rotate`);
          const plain = isObj(x.body) && typeof x.body.plaintext === 'string' ? x.body.plaintext : null;
          if (x.status === 200 && plain !== null)
            status.replaceChildren(oncePanel(`New key for "${name}"`, plain));
          else status.replaceChildren(notice('error', `Rotate failed: ${errorText(x)}`));
        })
      : null;
    return h(
      'td',
      { class: 'actions' },
      h('a', { href: `#/r/${kind.path}/${encodeURIComponent(e.id)}`, class: 'button secondary' }, 'Edit'),
      rot,
      del,
    );
  };
  const table =
    list.length === 0
      ? h(
          'p',
          { class: 'empty' },
          `No ${nounOf(kind.path)} yet. `,
          h('a', { href: `#/r/${kind.path}/new` }, 'Create one'),
          '.',
        )
      : h(
          'table',
          { class: 'list' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Name'),
              ...cols.map((c) => h('th', {}, c)),
              h('th', {}, 'Revision'),
              h('th', {}),
            ),
          ),
          h(
            'tbody',
            {},
            ...list.map((e) =>
              h(
                'tr',
                { 'data-id': e.id },
                h(
                  'td',
                  {},
                  h('a', { href: `#/r/${kind.path}/${encodeURIComponent(e.id)}` }, entryName(kind, e)),
                  h('div', { class: 'id' }, e.id),
                ),
                ...cols.map((c) => h('td', {}, cellText(e.value[c]))),
                h('td', {}, String(e.revision)),
                rowActions(e),
              ),
            ),
          ),
        );
  mount(
    seq,
    h(
      'div',
      { class: 'title' },
      h('h1', {}, label),
      h('a', { href: `#/r/${kind.path}/new`, class: 'button', id: 'new' }, `New ${nounOf(kind.path, false)}`),
    ),
    ...(once ? [oncePanel(once.title, once.plaintext)] : []),
    status,
    table,
  );
}

// ---------------------------------------------------------------------------------------
// Create / edit form

async function loadLists(kind: KindInfo, names: string[]): Promise<Map<string, Entry[]>> {
  const want = new Set<string>();
  for (const n of names) {
    const k = REFS[n] ?? SUGGEST[n];
    if (k !== undefined && k !== kind.path) want.add(k);
  }
  const out = new Map<string, Entry[]>();
  await Promise.all(
    [...want].map(async (k) => {
      const r = await api('GET', `${API}/${k}`);
      out.set(k, r.status === 200 ? entries(r) : []);
    }),
  );
  return out;
}

function propsOf(s: Schema): { names: string[]; props: Schema; required: Set<string> } {
  const props = isObj(s.properties) ? s.properties : {};
  const required = new Set(Array.isArray(s.required) ? s.required.map(String) : []);
  return { names: Object.keys(props), props, required };
}

async function formView(seq: number, kind: KindInfo, id: string | null): Promise<void> {
  const noun = nounOf(kind.path, false);
  let entry: Entry | null = null;
  if (id !== null) {
    const r = await api('GET', `${API}/${kind.path}/${encodeURIComponent(id)}`);
    if (r.status !== 200) return mount(seq, h('h1', {}, `Edit ${noun}`), notice('error', errorText(r)));
    if (isObj(r.body) && isObj(r.body.value))
      entry = { id, value: r.body.value, revision: Number(r.body.revision) };
  }
  const rootSchema = deref(manifest.schemas[id === null ? kind.create_type : kind.type]);
  const variants = variantsOf(rootSchema);
  const allNames = variants
    ? [...variants.branches.values()].flatMap((b) => propsOf(b).names)
    : propsOf(rootSchema).names;
  const ctx: FieldCtx = { kind, editing: id !== null, lists: await loadLists(kind, allNames) };

  const general = h('div', { class: 'general', 'aria-live': 'polite' });
  const fieldsBox = h('div', { class: 'fields' });
  const jsonBox = h('textarea', {
    id: 'doc-json',
    class: 'code',
    rows: 18,
    spellcheck: 'false',
    hidden: true,
  });
  let fields = new Map<string, Field>();
  /** Stored fields the form has no input for; sent back unchanged. */
  let extra: Schema = {};
  let jsonMode = false;

  const build = (tagValue: string | undefined) => {
    const s = variants
      ? (variants.branches.get(tagValue ?? '') ?? deref(variants.branches.values().next().value))
      : rootSchema;
    const { names, props, required } = propsOf(s);
    fields = new Map();
    const list: HTMLElement[] = [];
    const advanced: HTMLElement[] = [];
    if (variants) {
      const tf = makeField(variants.tag, props[variants.tag] as Schema, true, ctx, [
        ...variants.branches.keys(),
      ]);
      tf.input.addEventListener('change', () => {
        const doc = collect(true);
        build(tf.input.value);
        const keep = new Set(fields.keys());
        fill(Object.fromEntries(Object.entries(doc).filter(([k]) => keep.has(k))));
      });
      fields.set(tf.name, tf);
      list.push(tf.wrap);
    }
    for (const n of names) {
      if (variants && n === variants.tag) continue;
      const f = makeField(n, isObj(props[n]) ? props[n] : {}, required.has(n), ctx);
      fields.set(n, f);
      // Optional nested settings (JSON boxes) wait behind "More settings": the common path stays short.
      (f.widget === 'json' && !f.required ? advanced : list).push(f.wrap);
    }
    const more =
      advanced.length === 0
        ? null
        : h(
            'details',
            { class: 'advanced', id: 'more-settings' },
            h('summary', {}, `More settings (${advanced.length})`),
            h('div', { class: 'fields' }, ...advanced),
          );
    fieldsBox.replaceChildren(...list, ...(more ? [more] : []));
    if (variants && tagValue !== undefined) fields.get(variants.tag)?.fill(tagValue);
  };

  const fill = (doc: Schema) => {
    extra = {};
    for (const [k, v] of Object.entries(doc)) {
      const f = fields.get(k);
      if (f) {
        f.fill(v);
        reveal(f);
      } else extra[k] = v;
    }
  };

  const clearErrors = () => {
    general.replaceChildren();
    for (const f of fields.values()) {
      f.error.hidden = true;
      f.error.textContent = '';
      f.wrap.classList.remove('invalid');
      f.input.removeAttribute('aria-invalid');
    }
  };

  /** Opens the "More settings" section when it holds this field. */
  const reveal = (f: Field) => {
    const d = f.wrap.closest('details');
    if (d) d.open = true;
  };

  const fieldError = (f: Field, text: string) => {
    reveal(f);
    f.error.textContent = text;
    f.error.hidden = false;
    f.wrap.classList.add('invalid');
    f.input.setAttribute('aria-invalid', 'true');
  };

  /** The document the form holds; `lenient` skips unreadable fields instead of flagging them. */
  const collect = (lenient = false): Schema => {
    const doc: Schema = { ...extra };
    for (const f of fields.values()) {
      const r = f.read();
      if (!r.ok) {
        if (!lenient) fieldError(f, r.message);
        continue;
      }
      if (r.value !== undefined) doc[f.name] = r.value;
    }
    return doc;
  };

  const showServerError = (message: string) => {
    const loc = jsonMode ? null : errorLocation(message);
    const f = loc ? fields.get(loc.field) : undefined;
    if (loc && f) {
      const nested = loc.pointer !== '' && loc.pointer !== `/${loc.field}`;
      fieldError(f, nested ? `${loc.text} (at ${loc.pointer})` : loc.text);
      general.replaceChildren(notice('error', 'The Admin API rejected the highlighted field.'));
      f.input.focus();
    } else general.replaceChildren(notice('error', message));
  };

  const toggleJson = () => {
    clearErrors();
    if (!jsonMode) {
      const before = [...fields.values()].filter((f) => !f.read().ok);
      const doc = collect();
      if (before.length > 0) return;
      jsonBox.value = JSON.stringify(doc, null, 2);
    } else {
      let doc: unknown;
      try {
        doc = JSON.parse(jsonBox.value);
      } catch {
        general.replaceChildren(notice('error', 'The document is not valid JSON.'));
        return;
      }
      if (!isObj(doc)) {
        general.replaceChildren(notice('error', 'The document must be a JSON object.'));
        return;
      }
      if (variants) build(typeof doc[variants.tag] === 'string' ? String(doc[variants.tag]) : undefined);
      fill(doc);
    }
    jsonMode = !jsonMode;
    jsonBox.hidden = !jsonMode;
    fieldsBox.hidden = jsonMode;
    jsonToggle.textContent = jsonMode ? 'Edit as form' : 'Edit as JSON';
  };
  const jsonToggle = button('Edit as JSON', toggleJson, 'secondary', { id: 'json-toggle' });

  const save = async () => {
    clearErrors();
    let doc: Schema;
    if (jsonMode) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(jsonBox.value);
      } catch {
        return general.replaceChildren(notice('error', 'The document is not valid JSON.'));
      }
      if (!isObj(parsed))
        return general.replaceChildren(notice('error', 'The document must be a JSON object.'));
      doc = parsed;
    } else {
      const bad = [...fields.values()].some((f) => !f.read().ok);
      doc = collect();
      if (bad) return general.replaceChildren(notice('error', 'Fix the highlighted fields.'));
    }
    saveBtn.disabled = true;
    try {
      const r =
        id === null
          ? await api('POST', `${API}/${kind.path}`, doc)
          : await api('PUT', `${API}/${kind.path}/${encodeURIComponent(id)}`, doc, entry?.revision);
      if (r.status === 412)
        return general.replaceChildren(
          notice(
            'error',
            `This ${noun} was changed by someone else after you opened it; nothing was saved. Reload it to see the current version.`,
          ),
        );
      if (r.status !== 200) return showServerError(errorText(r));
      const body = isObj(r.body) ? r.body : {};
      const name = isObj(body.value)
        ? entryName(kind, { id: String(body.id), value: body.value, revision: 0 })
        : '';
      flash = { kind: 'ok', text: `${id === null ? 'Created' : 'Saved'} ${noun} "${name}".` };
      if (typeof body.plaintext === 'string')
        pendingSecret = { title: `New key for "${name}"`, plaintext: body.plaintext };
      location.hash = `#/r/${kind.path}`;
    } finally {
      saveBtn.disabled = false;
    }
  };
  const saveBtn = h('button', { type: 'submit', id: 'save' }, id === null ? 'Create' : 'Save');

  const initial = entry?.value ?? {};
  build(
    variants
      ? typeof initial[variants.tag] === 'string'
        ? String(initial[variants.tag])
        : undefined
      : undefined,
  );
  fill(initial);

  const form = h(
    'form',
    { class: 'resource', novalidate: true, 'data-kind': kind.path },
    general,
    fieldsBox,
    jsonBox,
    h(
      'div',
      { class: 'buttons' },
      saveBtn,
      jsonToggle,
      h('a', { href: `#/r/${kind.path}`, class: 'button secondary' }, 'Cancel'),
    ),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void save().catch((err: unknown) => {
      if (!(err instanceof SignedOut)) general.replaceChildren(notice('error', String(err)));
    });
  });
  const title = id === null ? `New ${noun}` : `Edit ${noun}`;
  mount(
    seq,
    h(
      'div',
      { class: 'title' },
      h('h1', {}, title),
      entry ? h('span', { class: 'id' }, `${entry.id} · revision ${entry.revision}`) : null,
    ),
    form,
  );
}

// ---------------------------------------------------------------------------------------
// Generic rendering of status and audit bodies

function renderValue(v: unknown, depth = 0): Node {
  if (v === null || v === undefined) return document.createTextNode('—');
  if (Array.isArray(v)) {
    if (v.length === 0) return document.createTextNode('none');
    if (v.every(isObj) && depth < 3) return recordsTable(v);
    return document.createTextNode(v.map((x) => (isObj(x) ? JSON.stringify(x) : String(x))).join(', '));
  }
  if (isObj(v)) {
    if (depth >= 3) return h('code', {}, short(JSON.stringify(v), 200));
    return h(
      'dl',
      { class: 'kv' },
      ...Object.entries(v).flatMap(([k, x]) => [h('dt', {}, k), h('dd', {}, renderValue(x, depth + 1))]),
    );
  }
  return document.createTextNode(String(v));
}

function recordsTable(rows: Schema[], maxCols = 10): HTMLTableElement {
  const cols: string[] = [];
  for (const r of rows)
    for (const k of Object.keys(r)) if (!cols.includes(k) && cols.length < maxCols) cols.push(k);
  const cell = (x: unknown) => {
    if (x === null || x === undefined) return h('td', {});
    if (isObj(x) || Array.isArray(x)) {
      const s = JSON.stringify(x);
      return h('td', { title: short(s, 2000) }, h('code', {}, short(s, 120)));
    }
    return h('td', {}, String(x));
  };
  return h(
    'table',
    { class: 'list' },
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...cols.map((c) => cell(r[c]))))),
  );
}

function badge(text: string): HTMLElement {
  return h('span', { class: `badge ${text}` }, text);
}

// ---------------------------------------------------------------------------------------
// Operations views

const HEALTH = ['healthy', 'degraded', 'down'];

async function healthView(seq: number): Promise<void> {
  const [hr, sr] = await Promise.all([api('GET', `${API}/health`), api('GET', `${API}/models/status`)]);
  const out: Node[] = [
    h(
      'div',
      { class: 'title' },
      h('h1', {}, 'Model health'),
      button('Refresh', () => void route(), 'secondary'),
    ),
  ];
  const byId = new Map<string, number>();
  if (hr.status === 200 && isObj(hr.body)) {
    const b = hr.body;
    for (const m of Array.isArray(b.models) ? b.models : [])
      if (isObj(m) && typeof m.id === 'string') byId.set(m.id, Number(m.health));
    const cfg = isObj(b.config) ? b.config : null;
    out.push(
      h(
        'p',
        { class: 'summary', id: 'overall' },
        'Overall: ',
        badge(String(b.status)),
        cfg
          ? ` · snapshot revision ${String(cfg.snapshot_revision)}, age ${cfg.snapshot_age_seconds === null ? 'never applied' : `${String(cfg.snapshot_age_seconds)} s`}`
          : '',
      ),
    );
  } else out.push(notice('error', `GET /admin/v1/health: ${errorText(hr)}`));
  if (sr.status !== 200 || !Array.isArray(sr.body)) {
    out.push(notice('error', `GET /admin/v1/models/status: ${errorText(sr)}`));
    return mount(seq, ...out);
  }
  if (sr.body.length === 0) {
    out.push(h('p', { class: 'empty' }, 'No models yet.'));
    return mount(seq, ...out);
  }
  const rows = sr.body.filter(isObj);
  const td = (x: unknown) => h('td', {}, x === undefined || x === null ? '' : String(x));
  out.push(
    h(
      'table',
      { class: 'list', id: 'model-status' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Model', 'Kind', 'Status', 'Upstream health', 'Last check', 'Cooldown until', 'Reason'].map(
            (c) => h('th', {}, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        ...rows.map((r) => {
          const health = byId.get(String(r.id));
          return h(
            'tr',
            {},
            h('td', {}, String(r.display_name ?? r.id)),
            td(r.kind),
            h('td', {}, badge(String(r.status))),
            h('td', {}, health === undefined ? '' : badge(HEALTH[health] ?? String(health))),
            td(
              r.last_checked_at === undefined
                ? ''
                : `${String(r.last_checked_at)}${r.last_check_status === undefined ? '' : ` (${String(r.last_check_status)})`}`,
            ),
            td(r.cooldown_until),
            td(r.status_reason),
          );
        }),
      ),
    ),
  );
  mount(seq, ...out);
}

async function configView(seq: number): Promise<void> {
  const r = await api('GET', `${API}/status/config`);
  const title = h(
    'div',
    { class: 'title' },
    h('h1', {}, 'Config status'),
    button('Refresh', () => void route(), 'secondary'),
  );
  if (r.status !== 200 || !isObj(r.body)) return mount(seq, title, notice('error', errorText(r)));
  const b = r.body;
  mount(
    seq,
    title,
    h('p', { class: 'summary', id: 'config-state' }, 'State: ', badge(String(b.state))),
    h('div', { class: 'kv-box' }, renderValue(b)),
  );
}

type Cursor = { param: string; value: string };

/** Response field holding the next page's cursor -> the query parameter that takes it. */
const CURSORS: [string, string][] = [
  ['next_cursor', 'cursor'],
  ['next_page_token', 'page_token'],
  ['next_token', 'token'],
  ['next_offset', 'offset'],
  ['next', 'cursor'],
];

/** The next page of a paged body: a cursor under one of the usual names, or offset/limit/total. */
function nextCursor(b: Schema): Cursor | null {
  for (const [field, param] of CURSORS) {
    const v = b[field];
    if ((typeof v === 'string' && v !== '') || typeof v === 'number') return { param, value: String(v) };
  }
  const { offset, limit, total } = b;
  if (
    typeof offset === 'number' &&
    typeof limit === 'number' &&
    typeof total === 'number' &&
    offset + limit < total
  )
    return { param: 'offset', value: String(offset + limit) };
  return null;
}

/** Audit paging state: the filter the user typed, this page's cursor, the cursors before it. */
const audit: { filter: string; cursor: Cursor | null; back: (Cursor | null)[] } = {
  filter: '',
  cursor: null,
  back: [],
};

async function auditView(seq: number): Promise<void> {
  const q = new URLSearchParams(audit.filter);
  if (audit.cursor) q.set(audit.cursor.param, audit.cursor.value);
  const qs = q.toString();
  const r = await api('GET', `${API}/audit${qs === '' ? '' : `?${qs}`}`);
  const filter = h('input', {
    id: 'audit-filter',
    type: 'text',
    placeholder: 'e.g. kind=models&limit=50',
    spellcheck: 'false',
  });
  filter.value = audit.filter;
  const form = h(
    'form',
    { class: 'inline', novalidate: true },
    h('label', { for: 'audit-filter' }, 'Filters (query string)'),
    filter,
    h('button', { type: 'submit', class: 'secondary' }, 'Apply'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    audit.filter = filter.value.trim().replace(/^\?/, '');
    audit.cursor = null;
    audit.back = [];
    void route();
  });
  const title = h('div', { class: 'title' }, h('h1', {}, 'Audit trail'));
  if (r.status === 404)
    return mount(
      seq,
      title,
      notice(
        'info',
        'The audit trail is not available on this gateway: GET /admin/v1/audit answered 404 (this version has no audit route).',
      ),
    );
  if (r.status !== 200) return mount(seq, title, form, notice('error', errorText(r)));
  const b = r.body;
  const records: unknown[] = Array.isArray(b)
    ? b
    : isObj(b)
      ? ((Object.values(b).find((v) => Array.isArray(v)) as unknown[] | undefined) ?? [])
      : [];
  const next = isObj(b) ? nextCursor(b) : null;
  const pager = h(
    'p',
    { class: 'pager' },
    audit.back.length > 0
      ? button(
          'Previous page',
          () => {
            audit.cursor = audit.back.pop() ?? null;
            void route();
          },
          'secondary',
        )
      : null,
    ' ',
    next
      ? button(
          'Next page',
          () => {
            audit.back.push(audit.cursor);
            audit.cursor = next;
            void route();
          },
          'secondary',
          { id: 'audit-next' },
        )
      : null,
  );
  mount(
    seq,
    title,
    form,
    records.length === 0
      ? h('p', { class: 'empty' }, 'No audit records match.')
      : recordsTable(records.filter(isObj), 12),
    pager,
  );
}

// ---------------------------------------------------------------------------------------
// Boot

async function boot(): Promise<void> {
  const res = await fetch(`/admin/console/manifest.json?v=${encodeURIComponent(VERSION)}`, {
    credentials: 'omit',
  });
  manifest = (await res.json()) as Manifest;
  window.addEventListener('hashchange', () => void route());
  await route();
}

void boot().catch((err: unknown) => {
  root.replaceChildren(notice('error', `The console failed to start: ${String(err)}`));
});
