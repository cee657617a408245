/**
 * Parsing the resources file text into a plain tree, with the YAML restrictions of the file
 * format: exactly one document, no aliases (no shared or exploding structure), and only
 * string mapping keys (a key `1:` or `true:` is almost always a typo for a quoted name).
 */
import { isAlias, isPair, isScalar, parseAllDocuments, visit } from 'yaml';
import { yamlErrorText } from '../yaml-error.js';

export type ParsedFile = { ok: true; root: unknown } | { ok: false; errors: string[] };

export function parseResourcesYaml(text: string): ParsedFile {
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: false, logLevel: 'error' });
  if ('empty' in docs || docs.length === 0) return { ok: false, errors: ['the file is empty'] };
  if (docs.length > 1) {
    return { ok: false, errors: [`the file holds ${docs.length} YAML documents; exactly one is allowed`] };
  }
  const doc = docs[0];
  if (doc === undefined) return { ok: false, errors: ['the file is empty'] };
  if (doc.errors.length > 0) {
    return { ok: false, errors: doc.errors.map((e) => yamlErrorText(e, text)) };
  }
  if (doc.contents === null) return { ok: false, errors: ['the file is empty'] };
  const errors: string[] = [];
  visit(doc, {
    Alias() {
      if (!errors.includes('YAML aliases are not allowed')) errors.push('YAML aliases are not allowed');
    },
    Pair(_, pair) {
      if (!isPair(pair)) return;
      const key = pair.key;
      if (isAlias(key)) return;
      if (!isScalar(key) || typeof key.value !== 'string') {
        const shown = isScalar(key) ? String(key.value) : 'a collection';
        errors.push(`mapping keys must be strings (found key ${shown})`);
      }
    },
  });
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, root: doc.toJS({ maxAliasCount: 0 }) };
}
