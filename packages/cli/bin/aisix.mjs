#!/usr/bin/env node
// The `aisix` command. A committed file (not dist/) so that `pnpm install` links it before the
// first build: `npx aisix` and `pnpm exec aisix` in this checkout then always find it here and
// never ask a registry for a package of that name.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('aisix is not built yet: run `npx -y pnpm@12.4.2 build` (or `pnpm start`) first\n');
  process.exit(1);
}
await import(main.href);
