// Builds bench/fanout.ts and its simulator into dist/bench/ as plain ESM bundles (dependencies
// from node_modules, no keepNames), so the fan-out's CPU is measured on code built the way the
// Lambda handlers are (scripts/build.mjs), not under tsx's transpiler.
//   node scripts/bundle-fanout.mjs && node dist/bench/fanout.mjs --hosts 10000 --orphan-share 0.01
import { build } from 'esbuild';

await build({
  entryPoints: { fanout: 'bench/fanout.ts', 'fanout-sim': 'bench/fanout-sim.ts' },
  outdir: 'dist/bench',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  logLevel: 'warning',
});
