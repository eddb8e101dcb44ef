/**
 * The operator's view, end to end: `clawbox-reaper local` started as its own process on temp dirs
 * and ports against a private engine, driven by the real CLI; then a restart that must keep the
 * audit trail. Plus the CLI's answers to bad flags, an unreachable API and an unreachable engine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existingIds, makeContainers } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const BIN = join(process.cwd(), 'bin', 'clawbox-reaper.js');
let engine: Engine;
let dir: string;
let local: { child: ChildProcess; apiUrl: string; stderr: () => string } | undefined;

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: engine.dockerHost, REAPER_GRACE_SECONDS: '0', REAPER_STOP_TIMEOUT_SECONDS: '1', REAPER_LOG_LEVEL: 'warn' };
  delete env.REAPER_API_TOKEN;
  delete env.REAPER_MASTER_KEY;
  delete env.REAPER_API_URL;
  return env;
}

async function startLocal(): Promise<NonNullable<typeof local>> {
  const child = spawn(process.execPath, [BIN, 'local', '--data-dir', join(dir, 'data'), '--api-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--host-id', 'test-host', '--interval', '1h'], {
    cwd: dir,
    env: baseEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (!/API\s+(http:\/\/\S+)/.test(err)) {
    if (child.exitCode !== null) throw new Error(`local exited with ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`local did not start: ${err}`);
    await sleep(50);
  }
  return { child, apiUrl: /API\s+(http:\/\/\S+)/.exec(err)![1]!, stderr: () => err };
}

async function stopLocal(): Promise<number | null> {
  if (!local) return null;
  const { child } = local;
  local = undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { ...baseEnv(), ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const api = () => ['--api', local!.apiUrl, '--data-dir', join(dir, 'data')];

beforeAll(async () => {
  if (!existsSync(join(process.cwd(), 'dist', 'cli.js'))) spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  engine = await startEngine();
  dir = mkdtempSync(join(tmpdir(), 'cr-local-'));
  local = await startLocal();
});

afterAll(async () => {
  await stopLocal();
  await engine?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('clawbox-reaper local + CLI', () => {
  it('keeps its secrets in the data dir, readable by the owner only', () => {
    for (const file of ['api-token', 'master-key']) expect(statSync(join(dir, 'data', file)).mode & 0o777).toBe(0o600);
    expect(local!.stderr()).toMatch(/API token\s+[0-9a-f]{64}/);
  });

  it('registers the local engine as a host', () => {
    const hosts = cli(['hosts', '--json', ...api()]);
    expect(hosts.code).toBe(0);
    expect(JSON.parse(hosts.stdout)).toEqual([expect.objectContaining({ hostId: 'test-host', enabled: true })]);
  });

  it('tracks, dry-runs, reaps and keeps an audit trail that survives a restart', async () => {
    const [kept, orphan] = await makeContainers(engine.docker, [{ clawboxId: 'kept-1' }, { clawboxId: 'orphan-1' }]);
    expect(cli(['track', 'test-host', 'kept-1', ...api()]).code).toBe(0);
    await sleep(2_100);

    const dry = cli(['reap', '--dry-run', '--json', ...api()]);
    expect(dry.code).toBe(0);
    const dryRun = JSON.parse(dry.stdout) as { runId: string; reports: { status: string; counts: { orphans: number } }[] };
    expect(dryRun.reports).toEqual([expect.objectContaining({ status: 'dry-run', counts: expect.objectContaining({ orphans: 1, tracked: 1 }) })]);
    expect((await existingIds(engine.docker)).has(orphan!.id)).toBe(true);

    const reap = cli(['reap', ...api()]);
    expect(reap.code).toBe(0);
    expect(reap.stdout).toMatch(/test-host\s+ok\s+2\s+1\s+1\s+0\s+1\s+0/);
    expect(reap.stderr).toContain('test-host: ok, 1 removed of 1 orphans');
    const ids = await existingIds(engine.docker);
    expect(ids.has(orphan!.id)).toBe(false);
    expect(ids.has(kept!.id)).toBe(true);

    const before = JSON.parse(cli(['reports', '--json', '--host', 'test-host', ...api()]).stdout) as { runId: string }[];
    expect(before.map((r) => r.runId)).toContain(dryRun.runId);
    expect(before.length).toBe(2);

    expect(await stopLocal()).toBe(0);
    local = await startLocal();
    const after = JSON.parse(cli(['reports', '--json', '--since', '1h', ...api()]).stdout) as { runId: string }[];
    expect(after.map((r) => r.runId).sort()).toEqual(before.map((r) => r.runId).sort());
    expect(local.stderr()).not.toMatch(/API token\s+[0-9a-f]{64}/); // printed on first start only
    const tracked = JSON.parse(cli(['hosts', 'containers', 'test-host', '--json', ...api()]).stdout) as { containerId: string }[];
    expect(tracked.map((t) => t.containerId)).toEqual(['kept-1']);
  });

  it('fails a reap with exit code 1 when a host fails', () => {
    expect(cli(['hosts', 'add', 'ghost', '--url', 'http://127.0.0.1:9', ...api()]).code).toBe(0);
    const reap = cli(['reap', '--host', 'ghost', ...api()]);
    expect(reap.code).toBe(1);
    expect(reap.stdout).toMatch(/ghost\s+unreachable/);
    expect(cli(['hosts', 'remove', 'ghost', ...api()]).code).toBe(0);
  });

  it('answers bad input with a clear message and exit code 2, and an unreachable API with 3', () => {
    const unknown = cli(['reap', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    const badLease = cli(['track', 'test-host', 'x', '--lease', 'forever', ...api()]);
    expect(badLease.code).toBe(2);
    expect(badLease.stderr).toContain('--lease');
    const badId = cli(['track', 'test-host', '../etc', ...api()]);
    expect(badId.code).toBe(3);
    expect(badId.stderr).toMatch(/containerId/);
    const down = cli(['hosts', '--api', 'http://127.0.0.1:9']);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach the API at http://127.0.0.1:9');
    const noToken = cli(['hosts', '--api', local!.apiUrl, '--data-dir', join(dir, 'nowhere')]);
    expect(noToken.code).toBe(3);
    expect(noToken.stderr).toContain('REAPER_API_TOKEN');
  });

  it('says how to fix an unreachable Docker engine', () => {
    const result = cli(['local', '--data-dir', join(dir, 'data2'), '--api-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0'], { DOCKER_HOST: `unix://${join(dir, 'no.sock')}` });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot reach the Docker engine');
    expect(result.stderr).toContain('DOCKER_HOST');
  });

  it('validates the agent settings of the local stack', () => {
    const result = cli(['local', '--data-dir', join(dir, 'data3'), '--api-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0'], { REAPER_AGENT_CONCURRENCY: 'lots' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('REAPER_AGENT_CONCURRENCY');
  });

  it('prints help for every command', () => {
    for (const command of ['local', 'agent', 'reap', 'reports', 'hosts', 'track', 'untrack', 'agent-key']) {
      const help = cli([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain('Usage: clawbox-reaper');
    }
  });
});
