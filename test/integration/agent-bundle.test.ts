/**
 * The one-file agent (dist/agent.mjs) as deployed: built by scripts/build.mjs, copied alone into a
 * temp dir and run there with plain `node` — it answers --help, serves /healthz and a signed reap
 * on a private engine, and never loads the parts of dockerode it has no use for (ssh2, gRPC).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { buildBundleAndStartEngine, startBundleAgent, type BuiltAgentBundle } from '../helpers/agent-bundle.js';
import { existingIds, makeContainers } from '../helpers/containers.js';
import type { Engine } from '../helpers/engine.js';

let built: BuiltAgentBundle;
let engine: Engine;
let hooks: string;

/** dockerode's parts the agent never reaches (scripts/build.mjs, agent-unused-stubs). */
const UNUSED = /node_modules\/(ssh2|cpu-features|@grpc\/grpc-js|@grpc\/proto-loader|protobufjs|tar-fs|@balena\/dockerignore)\//;

beforeAll(async () => {
  // Whatever started is kept for afterAll to clean up, even if the other part failed.
  const started: { built?: BuiltAgentBundle; engine?: Engine } = {};
  try {
    await buildBundleAndStartEngine(started);
  } finally {
    if (started.built) built = started.built;
    if (started.engine) engine = started.engine;
  }
  // Hooks that record every module a process asks for, CommonJS (Module._load) and ESM (a resolve hook).
  hooks = mkdtempSync(join(tmpdir(), 'cre-load-hooks-'));
  writeFileSync(
    join(hooks, 'record.cjs'),
    "const Module = require('node:module'); const fs = require('node:fs'); const load = Module._load;\n" +
      'Module._load = function (request, ...rest) { fs.appendFileSync(process.env.LOAD_LOG, `require ${request}\\n`); return load.call(this, request, ...rest); };\n',
  );
  writeFileSync(
    join(hooks, 'resolve.mjs'),
    "import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) { appendFileSync(process.env.LOAD_LOG, `import ${specifier}\\n`); return next(specifier, context); }\n",
  );
  writeFileSync(join(hooks, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(hooks, 'resolve.mjs')).href)});\n`);
}, 120_000);

afterAll(async () => {
  built?.remove();
  if (hooks) rmSync(hooks, { recursive: true, force: true });
  await engine?.stop();
});

const hookArgs = () => ['--require', join(hooks, 'record.cjs'), '--import', pathToFileURL(join(hooks, 'register.mjs')).href];
const loaded = (log: string) => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => line.split(' ')[1]!);

describe('the one-file agent', () => {
  it('runs alone with plain node: --help, --version, and exit 2 with a clear message on a bad key', () => {
    expect(existsSync(join(built.dir, 'node_modules'))).toBe(false);
    const help = execFileSync(process.execPath, ['agent.mjs', '--help'], { cwd: built.dir, env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' });
    expect(help).toContain('Usage: clawbox-reaper-agent');
    for (const flag of ['--host-id', '--listen', '--key-file', '--state-dir', '--tls-cert', '--tls-client-ca']) expect(help).toContain(flag);
    expect(execFileSync(process.execPath, ['agent.mjs', '--version'], { cwd: built.dir, encoding: 'utf8' }).trim()).toBe(packageJson.version);
    let failure: { status: number; stderr: string } | undefined;
    try {
      execFileSync(process.execPath, ['agent.mjs', '--host-id', 'h1'], { cwd: built.dir, env: { PATH: process.env.PATH ?? '', REAPER_AGENT_KEY: 'not-hex' }, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number; stderr: string };
    }
    expect(failure?.status).toBe(2);
    expect(failure?.stderr).toContain('REAPER_AGENT_KEY: host key must be hex');
  });

  it('serves /healthz and a signed reap on a real engine: the orphan removed, the tracked container kept', async () => {
    const agent = await startBundleAgent({ bundle: built.bundle, cwd: built.dir, dockerHost: engine.dockerHost });
    try {
      const health = await agent.client.health();
      expect(health.ok).toBe(true);
      const [kept, orphan] = await makeContainers(engine.docker, [{ clawboxId: 'bundle-kept' }, { clawboxId: 'bundle-orphan', kind: 'created' }]);
      // Created is whole seconds: let both be older than the cutoff.
      await sleep(2_100);
      const { anchor } = await agent.client.identity();
      const report = await agent.client.reap({
        runId: randomUUID(),
        hostId: agent.hostId,
        anchor,
        tracked: [{ id: 'bundle-kept' }],
        snapshotAt: new Date().toISOString(),
        graceSeconds: 0,
        stopTimeoutSeconds: 1,
        maxReap: 10,
        dryRun: false,
      });
      expect(report.counts.removed).toBe(1);
      const ids = await existingIds(engine.docker);
      expect(ids.has(orphan!.id)).toBe(false);
      expect(ids.has(kept!.id)).toBe(true);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
  });

  it('is made without ssh2 or gRPC, and loads no module but node builtins at run time', async () => {
    // The bundle's inputs: dockerode and its modem are in it, its ssh/gRPC/build parts are not.
    const inputs = Object.keys(built.meta.inputs);
    expect(inputs.some((p) => p.includes('node_modules/dockerode/lib/docker.js'))).toBe(true);
    expect(inputs.some((p) => p.includes('node_modules/docker-modem/lib/modem.js'))).toBe(true);
    expect(inputs.filter((p) => UNUSED.test(p))).toEqual([]);

    // The hooks see ssh2 and gRPC when dockerode is loaded the ordinary way...
    const controlLog = join(hooks, 'control.log');
    execFileSync(process.execPath, [...hookArgs(), '-e', "require('dockerode')"], { env: { ...process.env, LOAD_LOG: controlLog } });
    expect(loaded(controlLog)).toEqual(expect.arrayContaining(['ssh2', '@grpc/grpc-js']));

    // ...and nothing but builtins (and the bundle itself) in the one-file agent, started and serving.
    const log = join(hooks, 'bundle.log');
    const agent = await startBundleAgent({ bundle: built.bundle, cwd: built.dir, dockerHost: engine.dockerHost, nodeArgs: hookArgs(), env: { LOAD_LOG: log } });
    try {
      await agent.client.identity();
    } finally {
      await agent.stop();
    }
    const modules = loaded(log);
    expect(modules).toContain('node:http');
    const entry = pathToFileURL(built.bundle).href;
    expect(modules.filter((m) => !isBuiltin(m) && m !== built.bundle && m !== entry && !m.startsWith(pathToFileURL(hooks).href))).toEqual([]);
  });
});
