// Builds dist/: the CLI (dependencies resolved from node_modules at run time) and one
// self-contained, minified ESM bundle per Lambda handler (the AWS SDK bundled: importing it from
// one file is faster than resolving it from node_modules, which matters for cold starts).
import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';

const common = { bundle: true, platform: 'node', target: 'node20', format: 'esm', sourcemap: true, logLevel: 'warning' };
// Some dependencies (pino, dockerode) still call require(); give ESM bundles one.
const requireShim = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

rmSync('dist', { recursive: true, force: true });
const jobs = [];
if (existsSync('cli/main.ts')) {
  jobs.push(build({ ...common, entryPoints: ['cli/main.ts'], outfile: 'dist/cli.js', packages: 'external' }));
}
for (const name of ['reaper', 'api']) {
  if (!existsSync(`functions/${name}.ts`)) continue;
  jobs.push(
    build({
      ...common,
      entryPoints: [`functions/${name}.ts`],
      outfile: `dist/lambda/${name}/index.mjs`,
      minify: true,
      banner: { js: requireShim },
      // Docker is only ever talked to by agents; keep its client out of the Lambda bundles.
      external: ['dockerode', 'ssh2', 'cpu-features'],
    }),
  );
}
await Promise.all(jobs);
