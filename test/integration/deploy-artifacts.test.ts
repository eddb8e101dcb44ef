/**
 * The deployment pieces as they are shipped (docs/DEPLOY.md step 5), run on this machine:
 * - the systemd unit passes `systemd-analyze verify` with nothing to say, its exposure is what
 *   DEPLOY.md claims, and its ExecStart line, run as systemd would run it (hostname for %H, the
 *   environment file, $STATE_DIRECTORY), starts the one-file agent;
 * - the agent image builds from infra/agent.Dockerfile on a private engine (legacy builder, a
 *   local stand-in for the node:22-slim base: nothing can be pulled here) and, run as the doc says
 *   (read-only, no capabilities, the socket and key mounted), answers /healthz and a signed reap.
 * systemd is not PID 1 here: the unit itself is never started by systemd.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentClient } from '../../lib/agent-client.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import { buildBundleAndStartEngine, type BuiltAgentBundle } from '../helpers/agent-bundle.js';
import { existingIds, makeContainers } from '../helpers/containers.js';
import type { Engine } from '../helpers/engine.js';
import { importNodeBaseImage } from '../helpers/node-base-image.js';

const UNIT = 'infra/clawbox-reaper-agent.service';
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
// CI installs systemd (.ci/run): there a missing tool is a failure, not a skip.
if (!hasSystemdAnalyze && process.env.CI === 'true') throw new Error('systemd-analyze is missing in CI: .ci/run installs the systemd package');

let built: BuiltAgentBundle;
let engine: Engine;
let scratch: string;

beforeAll(async () => {
  // Whatever started is kept for afterAll to clean up, even if the other part failed.
  const started: { built?: BuiltAgentBundle; engine?: Engine } = {};
  try {
    await buildBundleAndStartEngine(started);
  } finally {
    if (started.built) built = started.built;
    if (started.engine) engine = started.engine;
  }
  scratch = mkdtempSync(join(tmpdir(), 'cre-deploy-'));
}, 120_000);

afterAll(async () => {
  built?.remove();
  await engine?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The unit's settings: key → every value given (a key may repeat). */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = line.match(/^([A-Za-z]+)=(.*)$/);
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!]);
  }
  return settings;
}

describe.skipIf(!hasSystemdAnalyze)('the systemd unit (systemd-analyze)', () => {
  /** A copy to verify: systemd-analyze checks the ExecStart binary exists, and node may live elsewhere than /usr/bin here. */
  const unitCopy = () => {
    const dir = mkdtempSync(join(scratch, 'unit-'));
    const path = join(dir, 'clawbox-reaper-agent.service');
    const text = readFileSync(UNIT, 'utf8');
    writeFileSync(path, existsSync('/usr/bin/node') ? text : text.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `));
    return path;
  };

  it('verifies with nothing to say (an unknown key or a bad value would be reported)', () => {
    const result = spawnSync('systemd-analyze', ['verify', unitCopy()], { encoding: 'utf8' });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
  });

  it('catches a broken copy of itself (the check above can fail)', () => {
    const path = unitCopy();
    writeFileSync(path, readFileSync(path, 'utf8').replace('MemoryMax=512M', 'MemoryMax=lots'));
    const result = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    expect(result.stderr).toContain("Invalid memory limit 'lots'");
  });

  it('has the exposure level DEPLOY.md states', () => {
    const out = execFileSync('systemd-analyze', ['security', '--offline=true', unitCopy()], { encoding: 'utf8' });
    const level = out.match(/Overall exposure level for \S+: ([\d.]+) (\w+)/);
    expect(level?.[2]).toBe('OK');
    const stated = readFileSync('docs/DEPLOY.md', 'utf8').match(/rates its\s+exposure ([\d.]+), "OK"/);
    expect(stated?.[1]).toBe(level?.[1]);
  });
});

/** The unit's user (User=/Group=clawbox-reaper): a system uid and its group, by number (no passwd entry needed). */
const AGENT_UID = 10001;

/**
 * DEPLOY.md's install layout under a temp prefix, and the unit's ExecStart run as systemd would:
 * as the unit's user, with its group and the socket's group (SupplementaryGroups=docker), no new
 * privileges and no capabilities, %H the hostname, Environment= then EnvironmentFile=, and
 * $STATE_DIRECTORY (StateDirectory=, owned by that user).
 */
async function runExecStart(options: { keyMode: number; keyGid: number }) {
  const settings = unitSettings(readFileSync(UNIT, 'utf8'));
  const [execStart] = settings.get('ExecStart') ?? [];
  if (!execStart) throw new Error(`${UNIT} has no ExecStart`);
  const root = mkdtempSync(join(scratch, 'root-'));
  chmodSync(root, 0o755);
  const hostId = hostname();
  mkdirSync(join(root, 'opt/clawbox-reaper'), { recursive: true, mode: 0o755 });
  copyFileSync(built.bundle, join(root, 'opt/clawbox-reaper/agent.mjs'));
  chmodSync(join(root, 'opt/clawbox-reaper/agent.mjs'), 0o644);
  // install -d -m 0750 -o root -g clawbox-reaper /etc/clawbox-reaper; install -m 0640 … agent.key
  mkdirSync(join(root, 'etc/clawbox-reaper'), { recursive: true });
  chownSync(join(root, 'etc/clawbox-reaper'), 0, AGENT_UID);
  chmodSync(join(root, 'etc/clawbox-reaper'), 0o750);
  const hostKeyHex = deriveHostKey(randomBytes(32).toString('hex'), hostId);
  const keyFile = join(root, 'etc/clawbox-reaper/agent.key');
  writeFileSync(keyFile, `${hostKeyHex}\n`);
  chownSync(keyFile, 0, options.keyGid);
  chmodSync(keyFile, options.keyMode);
  const port = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(root, 'etc/clawbox-reaper/agent.env'), `REAPER_AGENT_LISTEN=127.0.0.1:${port}\nDOCKER_HOST=${engine.dockerHost}\n`);
  const stateDir = join(root, 'var/lib/clawbox-reaper-agent');
  mkdirSync(stateDir, { recursive: true });
  chownSync(stateDir, AGENT_UID, AGENT_UID);
  chmodSync(stateDir, 0o700);

  const argv = execStart
    .replaceAll('%H', hostId)
    .split(/\s+/)
    .map((word) => (word === '/usr/bin/node' ? process.execPath : word.replace(/^\/(opt|etc)\//, `${root}/$1/`)));
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', STATE_DIRECTORY: stateDir };
  for (const assignment of settings.get('Environment') ?? []) {
    const [key, ...value] = assignment.split('=');
    env[key!] = value.join('=');
  }
  expect(settings.get('EnvironmentFile')).toEqual(['-/etc/clawbox-reaper/agent.env']);
  for (const line of readFileSync(join(root, 'etc/clawbox-reaper/agent.env'), 'utf8').split('\n').filter(Boolean)) {
    const [key, ...value] = line.split('=');
    env[key!] = value.join('=');
  }
  const groups = [AGENT_UID, statSync(engine.socketPath).gid].join(',');
  const child = spawn('setpriv', ['--reuid', String(AGENT_UID), '--regid', String(AGENT_UID), '--groups', groups, '--no-new-privs', '--inh-caps=-all', '--bounding-set=-all', '--', ...argv], {
    cwd: '/',
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const client = createAgentClient({ baseUrl: `http://127.0.0.1:${port}`, hostKey: decodeKey(hostKeyHex) });
  return { execStart, settings, hostId, stateDir, client, child, exited, output: () => output };
}

describe('the systemd unit: its ExecStart as systemd runs it', () => {
  beforeAll(() => {
    // The unit's user must reach the engine's socket (through the docker group) and the install prefix.
    chmodSync(engine.dir, 0o711);
    chmodSync(scratch, 0o755);
  });

  it("starts the one-file agent as the unit's user: key file, docker group, environment file, state directory", async () => {
    const run = await runExecStart({ keyMode: 0o640, keyGid: AGENT_UID });
    // No ${VAR} the environment file might leave empty: the agent reads its settings itself.
    expect(run.execStart).not.toContain('$');
    try {
      for (let i = 0; ; i++) {
        try {
          await run.client.health();
          break;
        } catch (error) {
          if (run.child.exitCode !== null || i > 150) throw new Error(`the unit's ExecStart did not serve: ${run.output()}`, { cause: error });
          await sleep(100);
        }
      }
      // The engine answers through the docker group; the key came from --key-file; the host id is %H.
      expect((await run.client.health()).docker.reachable).toBe(true);
      expect((await run.client.identity()).hostId).toBe(run.hostId);
      // Its reports go under $STATE_DIRECTORY, the directory StateDirectory= makes.
      expect(readdirSync(run.stateDir)).toEqual([run.hostId]);
      expect(run.settings.get('StateDirectory')).toEqual(['clawbox-reaper-agent']);
      // Logs are JSON lines on stdout, written in-process (no pino transport thread): what journald collects.
      expect(run.output()).toContain('"msg":"agent listening"');
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
  });

  it('stops at start, exit 2 and a clear message, when the key file is not readable by its group', async () => {
    const run = await runExecStart({ keyMode: 0o600, keyGid: 0 });
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/cannot read --key-file .*agent\.key: EACCES/);
  });
});

describe('the agent image (infra/agent.Dockerfile)', () => {
  const docker = (...args: string[]) =>
    execFileSync('docker', ['-H', engine.dockerHost, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

  it('builds from the one-file agent and, run as DEPLOY.md says, serves /healthz and a signed reap', async () => {
    // The base image the Dockerfile names, made locally (no pulls here): this host's node + busybox.
    importNodeBaseImage(engine.dockerHost, 'node:22-slim');
    // The build context as `docker build -f infra/agent.Dockerfile .` sends it from the project,
    // filtered by the Dockerfile's own ignore file (the legacy builder reads it as .dockerignore).
    const context = mkdtempSync(join(scratch, 'context-'));
    mkdirSync(join(context, 'dist'));
    mkdirSync(join(context, 'infra'));
    copyFileSync(built.bundle, join(context, 'dist/agent.mjs'));
    copyFileSync('infra/agent.Dockerfile', join(context, 'infra/agent.Dockerfile'));
    copyFileSync('infra/agent.Dockerfile.dockerignore', join(context, '.dockerignore'));
    docker('build', '--network', 'none', '-f', join(context, 'infra/agent.Dockerfile'), '-t', 'clawbox-reaper-agent:test', context);

    const image = JSON.parse(docker('image', 'inspect', 'clawbox-reaper-agent:test')) as [{ Config: { User: string; Entrypoint: string[] } }];
    expect(image[0].Config.User).toBe('10001:10001');
    // The one-file agent and nothing of the project beside it.
    expect(docker('run', '--rm', '--network', 'none', '--entrypoint', 'ls', 'clawbox-reaper-agent:test', '-A', '/opt/clawbox-reaper')).toBe('agent.mjs');

    const hostId = 'image-host';
    const hostKeyHex = deriveHostKey(randomBytes(32).toString('hex'), hostId);
    const keyFile = join(scratch, 'agent.key');
    writeFileSync(keyFile, `${hostKeyHex}\n`);
    // As the doc says: readable by the image's uid 10001 through its group, mode 0640.
    chownSync(keyFile, 0, 10001);
    chmodSync(keyFile, 0o640);
    // The real agent client, bundled, mounted read-only for `docker exec` inside the agent's own network namespace.
    const clientDir = mkdtempSync(join(scratch, 'client-'));
    await build({ entryPoints: ['test/helpers/reap-once.ts'], outfile: join(clientDir, 'reap-once.mjs'), bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
    chmodSync(clientDir, 0o755);

    const [kept, orphan] = await makeContainers(engine.docker, [{ clawboxId: 'image-kept' }, { clawboxId: 'image-orphan', kind: 'created' }]);
    // The doc's `docker run`, with --network none in place of -p (no container networking on these engines).
    docker(
      'run', '-d', '--name', 'clawbox-reaper-agent', '--read-only', '--cap-drop=ALL', '--security-opt', 'no-new-privileges',
      '--group-add', String(statSync(engine.socketPath).gid),
      '-v', `${engine.socketPath}:/var/run/docker.sock`,
      '-v', `${keyFile}:/run/secrets/agent.key:ro`,
      '-v', 'clawbox-reaper-agent:/var/lib/clawbox-reaper-agent',
      '-v', `${clientDir}:/client:ro`,
      '--network', 'none',
      'clawbox-reaper-agent:test', '--host-id', hostId,
    );
    const inside = (script: string, env: Record<string, string> = {}) =>
      docker('exec', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]), 'clawbox-reaper-agent', 'node', ...(script.endsWith('.mjs') ? [script] : ['-e', script]));
    let health: string;
    for (let i = 0; ; i++) {
      try {
        health = inside("fetch('http://127.0.0.1:8788/healthz').then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); })");
        break;
      } catch (error) {
        if (i > 100) throw new Error(`the agent container did not answer: ${docker('logs', 'clawbox-reaper-agent')}`, { cause: error });
        await sleep(100);
      }
    }
    expect(JSON.parse(health)).toMatchObject({ ok: true, docker: { reachable: true } });

    // Created is whole seconds: let both be older than the cutoff.
    await sleep(2_100);
    const request = { runId: randomUUID(), hostId, tracked: [{ id: 'image-kept' }], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 1, maxReap: 10, dryRun: false };
    const report = JSON.parse(inside('/client/reap-once.mjs', { HOST_KEY: hostKeyHex, REAP: JSON.stringify(request) })) as { counts: { removed: number } };
    expect(report.counts.removed).toBe(1);
    const ids = await existingIds(engine.docker);
    expect(ids.has(orphan!.id)).toBe(false);
    expect(ids.has(kept!.id)).toBe(true);
    // Its own container carries no clawbox label: never its own orphan. Its report was kept in the volume.
    const state = JSON.parse(docker('inspect', 'clawbox-reaper-agent')) as [{ State: { Running: boolean }; HostConfig: { ReadonlyRootfs: boolean } }];
    expect(state[0].State.Running).toBe(true);
    expect(state[0].HostConfig.ReadonlyRootfs).toBe(true);
    expect(inside(`process.stdout.write(require('node:fs').readdirSync('/var/lib/clawbox-reaper-agent/${hostId}').join(' '))`)).not.toBe('');
    docker('rm', '-f', 'clawbox-reaper-agent');
  }, 120_000);
});
