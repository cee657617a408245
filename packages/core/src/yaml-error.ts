/**
 * YAML syntax errors as users read them: where (line and column, 1-based, as editors count)
 * and what. Shared by config.yaml and the resources file.
 */
import { YAMLError } from 'yaml';

export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  const end = Math.min(Math.max(offset, 0), text.length);
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: end - start + 1 };
}

/** `invalid YAML at line L, column C: <what>` (without a position when the error has none). */
export function yamlErrorText(e: unknown, text: string): string {
  if (!(e instanceof Error)) return `invalid YAML: ${String(e)}`;
  const what = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  if (!(e instanceof YAMLError)) return `invalid YAML: ${what}`;
  const { line, col } = lineCol(text, e.pos[0]);
  return `invalid YAML at line ${line}, column ${col}: ${what}`;
}
