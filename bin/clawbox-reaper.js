#!/usr/bin/env node
// The CLI is bundled into dist/ by `npm run build` (run automatically by `npm ci`/`npm install`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The SDK is pinned to a release that supports Node 20 (see package.json); its notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('clawbox-reaper: dist/cli.js is missing; run `npm run build` in the project first\n');
  process.exit(2);
}
await import(cli);
