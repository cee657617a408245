/**
 * The admin web console in a real browser: Debian's chromium driven by playwright-core
 * (the system binary, no browser download), against one `--role all` process with the
 * embedded store and a local mock OpenAI upstream. Through the UI only: sign in, create a
 * provider key, a model (with a bad field first, which must show inline) and a caller key,
 * then the official openai client calls with that key; rotation shows a new key once and
 * the old one stops working; an edit that leaves the masked secret alone keeps it; a policy
 * written in JSON mode and deleted; health, config status and audit pages.
 *
 * Screenshots of the main pages are written to e2e/artifacts/console/ (gitignored).
 * AISIX_CHROMIUM overrides the browser path (default: `chromium` on PATH, Debian's package).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type Browser, chromium, type Page } from 'playwright-core';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  chatStatus,
  type MockUpstream,
  ROOT,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const CHROMIUM =
  process.env.AISIX_CHROMIUM ??
  (spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).stdout.trim() || '/usr/bin/chromium');
const ARTIFACTS = join(ROOT, 'e2e', 'artifacts', 'console');
const UPSTREAM_SECRET = 'sk-upstream-console-7c1e';

describe('admin console in chromium', () => {
  const dir = tempDir('console');
  let upstream: MockUpstream;
  let proc: AisixProcess;
  let browser: Browser;
  let launching: Promise<Browser> | undefined;
  let page: Page;
  let consoleUrl: string;
  const problems: string[] = [];
  const requests: string[] = [];
  let callerKey = '';

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const chatWith = (key: string) =>
    new OpenAI({ apiKey: key, baseURL: `${proc.proxyUrl}/v1`, maxRetries: 0 }).chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'ping' }],
    });
  /** Chat works with `key` once the gateway's snapshot has the write. */
  const waitChatStatus = (key: string, status: number) =>
    waitUntil(
      `chat with the key → ${status}`,
      async () => ((await chatStatus(proc, key, 'chat')).status === status ? true : undefined),
      { timeoutMs: 10_000, alive: [proc] },
    );

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The browser starts while the gateway boots: both take seconds on a busy machine.
    launching = chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    launching.catch(() => undefined); // awaited below; a failed boot must not leave it unhandled
    upstream = await startMockUpstream();
    proc = await startAisix({ name: 'console', dir, role: 'all' });
    await waitStatus(proc, `${proc.proxyUrl}/readyz`, 200);
    consoleUrl = `${proc.adminUrl}/admin/console`;
    browser = await launching;
    page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      // Chromium logs every 4xx answer; those are expected here (wrong key, 400s, audit 404).
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: the server responded'))
        problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
  });

  after(async () => {
    const b = browser ?? (await launching?.catch(() => undefined));
    await Promise.all([b?.close(), proc?.kill(), upstream?.close()]);
    removeDir(dir);
  });

  test('sign in: a wrong key is refused, the admin key opens the console', async () => {
    await page.goto(consoleUrl);
    await page.locator('#admin-key').waitFor();
    await shot('01-sign-in');
    await page.fill('#admin-key', 'not-the-admin-key');
    await page.click('#sign-in');
    await page.getByText('That admin key was rejected.').waitFor();
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#sign-in');
    await page.locator('h1', { hasText: 'Provider keys' }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('aisix.console.admin_key')"), ADMIN_KEY);
    assert.ok(!page.url().includes(ADMIN_KEY));
  });

  test('create a provider key, a model (bad field shown inline first) and a caller key', async () => {
    // Provider key, pointing at the local mock upstream.
    await page.click('#new');
    await page.fill('#f-display_name', 'mock-openai');
    await page.fill('#f-api_key', UPSTREAM_SECRET);
    await page.fill('#f-api_base', upstream.apiBase);
    await page.fill('#f-provider', 'openai');
    await page.selectOption('#f-adapter', 'openai');
    await shot('02-provider-key-form');
    await page.click('#save');
    await page.locator('tr', { hasText: 'mock-openai' }).waitFor();
    assert.ok(!(await page.content()).includes(UPSTREAM_SECRET), 'the secret is masked in the list');
    await shot('03-provider-keys');

    // Model: an invalid provider name first; the Admin API's 400 lands on that field.
    await page.goto(`${consoleUrl}#/r/models/new`);
    await page.fill('#f-display_name', 'chat');
    await page.fill('#f-provider', 'Open AI!');
    await page.fill('#f-model_name', 'gpt-4o-mini');
    await page.selectOption('#f-provider_key_id', { label: await optionLabel(page, 'mock-openai') });
    await page.click('#save');
    const err = page.locator('[data-pointer="/provider"] .field-error');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /must match pattern/);
    assert.equal(await page.getAttribute('#f-provider', 'aria-invalid'), 'true');
    assert.equal(await page.locator('.field-error:visible').count(), 1, 'only the named field is flagged');
    await shot('04-model-inline-error');
    // A nested error lands on its top-level JSON box, opened from "More settings".
    await page.fill('#f-provider', 'openai');
    await page.click('#more-settings summary');
    await page.fill('#f-rate_limit', '{"rpm": -1}');
    await page.click('#more-settings summary');
    await page.click('#save');
    const nested = page.locator('[data-pointer="/rate_limit"] .field-error');
    await nested.waitFor();
    assert.match((await nested.textContent()) ?? '', /\(at \/rate_limit\/rpm\)/);
    assert.equal(await page.locator('[data-pointer="/provider"] .field-error').isVisible(), false);
    await page.fill('#f-rate_limit', '');
    await page.click('#save');
    await page.locator('tr', { hasText: 'gpt-4o-mini' }).waitFor();
    await shot('05-models');

    // Caller key: allowed_models from the suggestion chip, key generated and shown once.
    await page.goto(`${consoleUrl}#/r/api_keys/new`);
    await page.click('button[data-suggest="chat"]');
    assert.equal(await page.inputValue('#f-allowed_models'), 'chat');
    await page.fill('#f-display_name', 'console-e2e');
    await page.click('#save');
    const plaintext = page.locator('#plaintext');
    await plaintext.waitFor();
    callerKey = ((await plaintext.textContent()) ?? '').trim();
    assert.ok(callerKey.length >= 20, callerKey);
    await shot('06-api-key-shown-once');
    await page.click('#once-done');
    assert.equal(await page.locator('#plaintext').count(), 0);
    assert.ok(!(await page.content()).includes(callerKey), 'the plaintext is gone from the page');
  });

  test('a chat completion with the key created in the console works (openai client)', async () => {
    await waitChatStatus(callerKey, 200);
    const res = await chatWith(callerKey);
    assert.equal(res.choices[0]?.message.content, 'pong');
    const last = upstream.calls.at(-1);
    assert.equal(last?.model, 'gpt-4o-mini');
    assert.equal(last?.authorization, `Bearer ${UPSTREAM_SECRET}`);
  });

  test('rotate: the new key is shown once and works, the old key stops', async () => {
    await page.goto(`${consoleUrl}#/r/api_keys`);
    page.once('dialog', (d) => void d.accept());
    await page.locator('tr', { hasText: 'console-e2e' }).getByRole('button', { name: 'Rotate' }).click();
    const plaintext = page.locator('#plaintext');
    await plaintext.waitFor();
    const rotated = ((await plaintext.textContent()) ?? '').trim();
    assert.ok(rotated.length >= 20 && rotated !== callerKey);
    await waitChatStatus(callerKey, 401);
    await waitChatStatus(rotated, 200);
    assert.equal((await chatWith(rotated)).choices[0]?.message.content, 'pong');
    callerKey = rotated;
  });

  test('editing a provider key without retyping the secret keeps it', async () => {
    await page.goto(`${consoleUrl}#/r/provider_keys`);
    await page.locator('tr', { hasText: 'mock-openai' }).getByRole('link', { name: 'Edit' }).click();
    await page.locator('#f-api_key').waitFor();
    assert.equal(await page.inputValue('#f-api_key'), '');
    assert.match(
      (await page.getAttribute('#f-api_key', 'placeholder')) ?? '',
      /^\*\*\*\*.*leave empty to keep/,
    );
    await page.fill('#f-display_name', 'mock-openai-2');
    await shot('07-provider-key-edit');
    await page.click('#save');
    await page.locator('tr', { hasText: 'mock-openai-2' }).waitFor();
    const before = upstream.calls.length;
    await waitUntil(
      'chat after the edit reaches the upstream',
      async () => ((await chatStatus(proc, callerKey, 'chat')).status === 200 ? true : undefined),
      { timeoutMs: 10_000, alive: [proc] },
    );
    assert.ok(upstream.calls.length > before);
    assert.equal(upstream.calls.at(-1)?.authorization, `Bearer ${UPSTREAM_SECRET}`);
  });

  test('an edit of a resource someone else changed meanwhile is refused (If-Match), not saved over it', async () => {
    await page.goto(`${consoleUrl}#/r/provider_keys`);
    await page.locator('tr', { hasText: 'mock-openai-2' }).getByRole('link', { name: 'Edit' }).click();
    await page.locator('#f-display_name').waitFor();
    // Another writer (CI, a colleague) renames it while the form is open.
    const admin = new AdminClient(proc.adminUrl);
    const pk = (await admin.list('provider_keys')).find((e) => e.value.display_name === 'mock-openai-2');
    assert.ok(pk);
    const moved = await admin.raw('PUT', `/provider_keys/${pk.id}`, {
      ...pk.value,
      display_name: 'renamed-elsewhere',
    });
    assert.equal(moved.status, 200, moved.body);
    await page.fill('#f-display_name', 'mock-openai-3');
    await page.click('#save');
    await page.locator('.notice.error', { hasText: 'changed by someone else' }).waitFor();
    const names = (await admin.list('provider_keys')).map((e) => e.value.display_name);
    assert.ok(names.includes('renamed-elsewhere') && !names.includes('mock-openai-3'), names.join(','));
    // Back to the name the later tests use.
    const now = (await admin.list('provider_keys')).find((e) => e.id === pk.id);
    assert.ok(now);
    await admin.raw('PUT', `/provider_keys/${pk.id}`, { ...now.value, display_name: 'mock-openai-2' });
  });

  test('JSON mode creates a cache policy; delete removes it', async () => {
    await page.goto(`${consoleUrl}#/r/cache_policies/new`);
    await page.click('#json-toggle');
    await page.fill('#doc-json', JSON.stringify({ name: 'console-cache', ttl_seconds: 0 }));
    await page.click('#save');
    // Out of range: in JSON mode the error names the pointer in the form's banner.
    await page.locator('.general .notice.error', { hasText: '/ttl_seconds' }).waitFor();
    await page.fill('#doc-json', JSON.stringify({ name: 'console-cache', ttl_seconds: 60 }));
    await page.click('#json-toggle');
    assert.equal(await page.inputValue('#f-ttl_seconds'), '60', 'the form picks up the JSON');
    await page.click('#save');
    const row = page.locator('tr', { hasText: 'console-cache' });
    await row.waitFor();
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted "console-cache".').waitFor();
    assert.equal(await page.locator('tr', { hasText: 'console-cache' }).count(), 0);
  });

  test('tagged kinds: the kind selector picks the fields; an attachment picks the guardrail', async () => {
    await page.goto(`${consoleUrl}#/r/guardrails/new`);
    await page.selectOption('#f-kind', 'pii');
    await page.locator('#f-detectors').waitFor({ state: 'attached' });
    await page.fill('#f-name', 'no-secrets');
    await page.selectOption('#f-kind', 'keyword');
    await page.locator('#f-patterns').waitFor();
    assert.equal(await page.locator('#f-detectors').count(), 0, 'the pii fields are gone');
    assert.equal(await page.inputValue('#f-name'), 'no-secrets', 'shared fields keep their value');
    await page.fill('#f-patterns', JSON.stringify([{ kind: 'literal', value: 'password' }]));
    await page.click('#save');
    await page.locator('tr', { hasText: 'no-secrets' }).waitFor();

    await page.goto(`${consoleUrl}#/r/guardrail_attachments/new`);
    await page.locator('#f-guardrail_id').waitFor();
    const labels = await page.locator('#f-guardrail_id option').allTextContents();
    const label = labels.find((l) => l.startsWith('no-secrets ('));
    assert.ok(label, labels.join(', '));
    await page.selectOption('#f-guardrail_id', { label });
    await page.selectOption('#f-scope_type', 'env');
    await page.fill('#f-priority', '10');
    await page.click('#save');
    await page.getByText('Created guardrail attachment').waitFor();
    assert.equal(await page.locator('main table.list tbody tr').count(), 1);
  });

  test('model health, config status and audit pages', async () => {
    await page.goto(`${consoleUrl}#/health`);
    await page.locator('#model-status tr', { hasText: 'chat' }).waitFor();
    assert.match((await page.textContent('#overall')) ?? '', /Overall: (ok|degraded)/);
    await shot('08-health');

    await page.goto(`${consoleUrl}#/config`);
    await page.locator('#config-state').waitFor();
    assert.match((await page.textContent('#config-state')) ?? '', /State: synced/);
    await page.getByText('resource_counts').first().waitFor();
    await shot('09-config-status');

    await page.goto(`${consoleUrl}#/audit`);
    await page.locator('h1', { hasText: 'Audit trail' }).waitFor();
    const missing = page.getByText('GET /admin/v1/audit answered 404');
    const records = page.locator('main table.list tbody tr');
    await missing.or(records.first()).waitFor();
    if ((await missing.count()) === 0) {
      // The audit route exists: the writes made above are in it.
      assert.ok((await records.count()) > 0);
    }
    await shot('10-audit');
  });

  test('audit view: a paged body renders as a table, filters and cursors reach the query', async () => {
    // Rendering only: the browser answers GET /admin/v1/audit itself with a two-page body, so
    // this holds whether or not the gateway has the route (the page above saw the real answer).
    const seen: string[] = [];
    await page.route('**/admin/v1/audit*', async (route) => {
      const url = new URL(route.request().url());
      seen.push(url.search);
      const second = url.searchParams.get('cursor') === 'page-2';
      const rec = (n: number) => ({
        at: `2026-01-01T00:00:0${n}Z`,
        admin_key_id: 'k1',
        kind: 'models',
        id: `m-${n}`,
        revision: n,
        diff: { display_name: [null, `chat-${n}`] },
      });
      await route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify(
          second ? { records: [rec(3)] } : { records: [rec(1), rec(2)], next_cursor: 'page-2' },
        ),
      });
    });
    try {
      await page.goto(`${consoleUrl}#/health`);
      await page.locator('#model-status').waitFor();
      await page.goto(`${consoleUrl}#/audit`);
      await page.fill('#audit-filter', 'kind=models');
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.locator('main td', { hasText: 'm-2' }).waitFor();
      assert.equal(await page.locator('main table.list tbody tr').count(), 2);
      assert.ok(await page.locator('main th', { hasText: 'admin_key_id' }).isVisible());
      await page.click('#audit-next');
      await page.locator('main td', { hasText: 'm-3' }).waitFor();
      assert.equal(await page.locator('#audit-next').count(), 0, 'no next page after the last');
      await page.getByRole('button', { name: 'Previous page' }).click();
      await page.locator('main td', { hasText: 'm-1' }).waitFor();
      assert.ok(seen.includes('?kind=models&cursor=page-2'), seen.join(' '));
      assert.ok(seen.every((q) => !q.includes(ADMIN_KEY)));
    } finally {
      await page.unroute('**/admin/v1/audit*');
    }
  });

  test('no script errors, no CSP violations, every request same-origin, the key never in a URL', () => {
    assert.deepEqual(problems, []);
    const origin = new URL(proc.adminUrl).origin;
    for (const u of requests) {
      assert.equal(new URL(u).origin, origin, u);
      assert.ok(!u.includes(ADMIN_KEY), u);
    }
    const out = proc.output();
    for (const secret of [ADMIN_KEY, callerKey, UPSTREAM_SECRET])
      assert.ok(!out.includes(secret), 'a secret in the log');
  });
});

/** The label of the reference select's option for a resource name (`name (id)`). */
async function optionLabel(page: Page, name: string): Promise<string> {
  const labels = await page.locator('#f-provider_key_id option').allTextContents();
  const label = labels.find((l) => l.startsWith(`${name} (`));
  assert.ok(label, `no option for ${name} in ${labels.join(', ')}`);
  return label;
}
