import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from './config/load.js';
import { parseResourcesYaml } from './resources-file/yaml-doc.js';

// Positions are where the parser notices the error (an unclosed `[` at the next line's start).
test('config.yaml syntax errors say line and column', () => {
  const text =
    'proxy:\n  addr: "127.0.0.1:3000"\n  bad: [1, 2\nadmin: {admin_keys: ["0123456789abcdef0123"]}\n';
  const r = parseConfig({ text, path: 'config.yaml', env: {} });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error, /^build: config\.yaml: invalid YAML at line 4, column 1: Flow sequence/);
});

test('resources file syntax errors say line and column, one per error', () => {
  const r = parseResourcesYaml('_format_version: "1"\nmodels:\n  - { display_name: a\n');
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : (r.errors[0] ?? ''), /^invalid YAML at line 4, column 1: Flow map/);
  const dup = parseResourcesYaml('a: 1\nb: 2\na: 3\n');
  assert.equal(dup.ok, false);
  assert.match(
    dup.ok ? '' : (dup.errors[0] ?? ''),
    /^invalid YAML at line 3, column 1: Map keys must be unique/,
  );
});
