// Builds dist/: the CLI (dependencies resolved from node_modules at run time) and one
// self-contained, minified ESM bundle per Lambda handler (the AWS SDK bundled: importing it from
// one file is faster than resolving it from node_modules, which matters for cold starts).
//
//   node scripts/build.mjs [--outdir dist] [--lambda-only]
//
// --outdir/--lambda-only let tests build the Lambda bundles into a temp dir without touching dist/.
import { build } from 'esbuild';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { outdir: { type: 'string', default: 'dist' }, 'lambda-only': { type: 'boolean', default: false } },
});
const outdir = args.outdir;

const common = { bundle: true, platform: 'node', target: 'node20', format: 'esm', sourcemap: true, logLevel: 'warning' };
// Some dependencies (pino, dockerode) still call require(); give ESM bundles one.
const requireShim = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

// zod's namespace re-exports every locale (`z.locales`), ~250 KB that tree-shaking cannot drop
// because `z` is used as a namespace. Only the default (en) is ever configured, so Lambda
// bundles get an index that has just that one.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) =>
      /[\\/]zod[\\/]v4[\\/](classic|mini|core)[\\/]/.test(a.importer) ? { path: 'en', namespace: 'zod-locales', pluginData: a.resolveDir } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (a) => ({
      contents: 'export { default as en } from "../locales/en.js";',
      resolveDir: a.pluginData,
    }));
  },
};

// Lambda bundles only: zod's namespace (`z`) also carries what no handler uses and tree-shaking
// cannot drop from a namespace: `z.core` (with the schema compiler, zod/v4/core/compile.js),
// z.compile, z.toJSONSchema, z.fromJSONSchema, z.locales. Each cold start compiles that code; the
// handlers get a `z` without those names. A use of one fails the build (checked after each Lambda build below).
const ZOD_LAMBDA_DROPPED = /^export \* as (core|locales) from|^export \{ (toJSONSchema|fromJSONSchema) \}/;
const ZOD_CORE_DROPPED = new Set(['memoizer', 'INVALID', 'toZod', 'compile', 'withParser', 'ZodCompileAsyncError', 'ZodCompileUnsupportedError']);
const ZOD_LAMBDA_TRIMMED_USE = /\bz\.(core|locales|toJSONSchema|fromJSONSchema|memoizer|INVALID|toZod|compile|withParser|ZodCompile\w*)\b/;
const zodLambdaNamespace = {
  name: 'zod-lambda-namespace',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]classic[\\/]external\.js$/ }, (a) => {
      const lines = readFileSync(a.path, 'utf8').split('\n');
      const kept = lines
        .filter((line) => !ZOD_LAMBDA_DROPPED.test(line))
        .map((line) =>
          line.startsWith('export { globalRegistry,')
            ? line.replace(/\{([^}]*)\}/, (_m, names) => `{ ${names.split(',').map((n) => n.trim()).filter((n) => n && !ZOD_CORE_DROPPED.has(n)).join(', ')} }`)
            : line,
        );
      if (lines.length - kept.length !== 4) throw new Error(`zod-lambda-namespace: ${a.path} no longer has the exports it trims; update scripts/build.mjs`);
      return { contents: kept.join('\n'), loader: 'js' };
    });
  },
};

// pino loads thread-stream (its worker-thread transports, and with it node:assert) at require
// time; the handlers log to stdout synchronously and never start a transport.
const pinoNoTransports = {
  name: 'pino-no-transports',
  setup(b) {
    b.onResolve({ filter: /^thread-stream$/ }, (a) => (/[\\/]pino[\\/]lib[\\/]transport\.js$/.test(a.importer) ? { path: 'thread-stream', namespace: 'lambda-stub' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lambda-stub' }, () => ({
      contents: 'module.exports = function ThreadStream() { throw new Error("pino transports are not part of the Lambda bundles"); };',
      loader: 'js',
    }));
  },
};

rmSync(args['lambda-only'] ? join(outdir, 'lambda') : outdir, { recursive: true, force: true });
const jobs = [];
if (!args['lambda-only'] && existsSync('cli/main.ts')) {
  // Split so that `local` (dynalite, the AWS SDK) loads only when that command runs.
  jobs.push(
    build({ ...common, entryPoints: { cli: 'cli/main.ts' }, outdir, splitting: true, chunkNames: 'cli-chunks/[name]-[hash]', packages: 'external' }),
  );
}
for (const name of ['reaper', 'api']) {
  if (!existsSync(`functions/${name}.ts`)) continue;
  jobs.push(
    build({
      ...common,
      entryPoints: { index: `functions/${name}.ts` },
      outdir: join(outdir, 'lambda', name),
      outExtension: { '.js': '.mjs' },
      // Modules reached only by dynamic import() (the SDK's SSO/INI/process/web-identity
      // credential providers, unused in Lambda, which has env credentials) go to chunks that are
      // never loaded: a fifth less code to compile at cold start.
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      minify: true,
      // Maps without the sources: a third of the size, and --enable-source-maps parses the map
      // of every module at load; file:line is all a stack trace needs.
      sourcesContent: false,
      // ESM builds of the SDK (dist-es) tree-shake; its CommonJS builds (the default `main` for
      // platform node) bring whole clients along: ~40% smaller, far less to parse at cold start.
      mainFields: ['module', 'main'],
      plugins: [zodEnglishOnly, zodLambdaNamespace, pinoNoTransports],
      banner: { js: requireShim },
      // No license banners kept in the code V8 compiles at every cold start.
      legalComments: 'none',
      // Docker is only ever talked to by agents; keep its client out of the Lambda bundles.
      external: ['dockerode', 'ssh2', 'cpu-features'],
      metafile: true,
    }).then((result) => {
      // `import { toJSONSchema } from 'zod'` fails the build by itself; `z.toJSONSchema` would only
      // be undefined at run time, so our own sources are searched for the trimmed names.
      const uses = Object.keys(result.metafile.inputs)
        .filter((file) => !file.includes('node_modules') && !file.includes(':') && /\.tsx?$/.test(file))
        .filter((file) => ZOD_LAMBDA_TRIMMED_USE.test(readFileSync(file, 'utf8')));
      if (uses.length > 0) throw new Error(`${uses.join(', ')} use zod names the Lambda bundles leave out (scripts/build.mjs, zod-lambda-namespace)`);
    }),
  );
}

// The one-file agent: dist/agent.mjs, every dependency inside (node builtins only outside), for the
// systemd unit and the container image (docs/DEPLOY.md); beside it agent.meta.json, esbuild's list
// of its inputs, which the tests read. dockerode's parts the agent never reaches are left out, so
// they are neither shipped nor loaded: the ssh transport (ssh2, +15 MiB RSS at start; the agent
// takes unix:// and tcp:// only, agent/docker.ts), the BuildKit session and progress decoding
// (@grpc/grpc-js +13 MiB, protobufjs) and the build-context packer (tar-fs,
// @balena/dockerignore). Each is replaced by a stub that throws if it is ever called.
const AGENT_UNUSED = {
  'docker-modem/lib/ssh.js': 'ssh:// Docker hosts (ssh2)',
  'dockerode/lib/session.js': "dockerode's BuildKit session (@grpc/grpc-js)",
  'dockerode/lib/buildkit.js': "dockerode's BuildKit progress decoding (protobufjs)",
};
const AGENT_UNUSED_PACKAGES = { 'tar-fs': 'image build contexts (tar-fs)', '@balena/dockerignore': 'image build contexts (@balena/dockerignore)' };
const agentUnusedStubs = {
  name: 'agent-unused-stubs',
  setup(b) {
    const stub = (what) =>
      `const fail = () => { throw new Error(${JSON.stringify(`${what} is not part of the one-file agent`)}); };\n` +
      'module.exports = new Proxy(fail, { get: (_t, key) => (key === "__esModule" ? false : fail), construct: fail, apply: fail });';
    b.onResolve({ filter: /^(tar-fs|@balena\/dockerignore)$/ }, (a) =>
      /[\\/]dockerode[\\/]lib[\\/]util\.js$/.test(a.importer) ? { path: a.path, namespace: 'agent-unused', pluginData: AGENT_UNUSED_PACKAGES[a.path] } : undefined,
    );
    b.onLoad({ filter: /[\\/](docker-modem|dockerode)[\\/]lib[\\/](ssh|session|buildkit)\.js$/ }, (a) => {
      const key = Object.keys(AGENT_UNUSED).find((k) => a.path.replaceAll('\\', '/').endsWith(`/${k}`));
      return key ? { contents: stub(AGENT_UNUSED[key]), loader: 'js' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'agent-unused' }, (a) => ({ contents: stub(a.pluginData), loader: 'js' }));
  },
};
if (!args['lambda-only'] && existsSync('agent/standalone.ts')) {
  jobs.push(
    build({
      ...common,
      entryPoints: { agent: 'agent/standalone.ts' },
      outdir,
      outExtension: { '.js': '.mjs' },
      // Less source text for V8 to hold and parse: idle RSS counts it. Maps without the sources:
      // file:line in a stack trace is what an operator needs.
      minify: true,
      sourcesContent: false,
      plugins: [agentUnusedStubs, zodEnglishOnly],
      banner: { js: `#!/usr/bin/env node\n${requireShim}` },
      metafile: true,
    }).then((result) => writeFileSync(join(outdir, 'agent.meta.json'), JSON.stringify(result.metafile))),
  );
}
await Promise.all(jobs);
