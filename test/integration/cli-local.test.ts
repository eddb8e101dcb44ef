/**
 * The operator's view, end to end: `clawbox-reaper local` started as its own process on temp dirs
 * and ports against a private engine, driven by the real CLI; then a restart that must keep the
 * audit trail. Plus the CLI's answers to bad flags, an unreachable API and an unreachable engine;
 * engine pinning and re-pinning (S10, a second engine standing in for a replaced one), the guards'
 * advice (S4), and quarantine, restore and `reap --now` (S11).
 *
 * The CLI under test is this checkout's source, bundled into a private directory the way
 * `npm run build` bundles it (dist/ may be older than the source, and other runs may rebuild it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shortEngine } from '../../functions/dashboard/format.js';
import { deriveHostKey } from '../../lib/signing.js';
import { existingIds, makeContainers, stateOf } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';

let BIN: string;
let buildDir: string;
let engine: Engine;
/** A second engine: the "replaced" engine of the re-pin test. */
let engine2: Engine | undefined;
/** The engine the local stack's agent serves now. */
let current: Engine;
let dir: string;
let local: { child: ChildProcess; apiUrl: string; stderr: () => string; stdout: () => string } | undefined;

/**
 * Quarantine off (S11) so that the reaps below remove at once, as the first tests expect; the test
 * of quarantine itself restarts the stack with it on. The grace is 0, so the agent call's time
 * limit needs no adjusting (S12).
 */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: current.dockerHost,
    REAPER_GRACE_SECONDS: '0',
    REAPER_STOP_TIMEOUT_SECONDS: '1',
    REAPER_QUARANTINE_SECONDS: '0',
    REAPER_LOG_LEVEL: 'warn',
  };
  delete env.REAPER_API_TOKEN;
  delete env.REAPER_MASTER_KEY;
  delete env.REAPER_API_URL;
  return env;
}

async function startLocal(env: NodeJS.ProcessEnv = {}): Promise<NonNullable<typeof local>> {
  const child = spawn(process.execPath, [BIN, 'local', '--data-dir', join(dir, 'data'), '--api-listen', '127.0.0.1:0', '--agent-listen', '127.0.0.1:0', '--host-id', 'test-host', '--interval', '1h'], {
    cwd: dir,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (!/API\s+(http:\/\/\S+)/.test(err)) {
    if (child.exitCode !== null) throw new Error(`local exited with ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`local did not start: ${err}`);
    await sleep(50);
  }
  return { child, apiUrl: /API\s+(http:\/\/\S+)/.exec(err)![1]!, stderr: () => err, stdout: () => out };
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
  // Inside the project, so the bundle's bare imports resolve from its node_modules (as dist/'s do).
  mkdirSync(join(process.cwd(), '.tmp'), { recursive: true });
  buildDir = mkdtempSync(join(process.cwd(), '.tmp', 'cli-test-'));
  await build({
    bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning',
    entryPoints: { cli: 'cli/main.ts' }, outdir: buildDir, splitting: true, chunkNames: 'cli-chunks/[name]-[hash]', packages: 'external',
  });
  BIN = join(buildDir, 'cli.js');
  engine = await startEngine();
  current = engine;
  dir = mkdtempSync(join(tmpdir(), 'cr-local-'));
  local = await startLocal();
});

afterAll(async () => {
  await stopLocal();
  await engine2?.stop();
  await engine?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

interface HostJson {
  hostId: string;
  agentUrl: string;
  maxReap?: number;
  engineId?: string;
  enginePinnedAt?: string;
}
const hostsJson = () => JSON.parse(cli(['hosts', '--json', ...api()]).stdout) as HostJson[];
const testHost = () => hostsJson().find((h) => h.hostId === 'test-host')!;
/** Every report of the audit trail (the local stack keeps few). */
const allReports = () => JSON.parse(cli(['reports', '--json', '--limit', '1000', ...api()]).stdout) as { runId: string; hostId: string }[];


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
    // A value the API refuses is a usage error too (exit 2), named in the CLI's words.
    const badId = cli(['track', 'test-host', '../etc', ...api()]);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^clawbox-reaper: invalid container id: /);
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
    for (const command of ['local', 'agent', 'reap', 'reports', 'hosts', 'hosts repin', 'hosts enable', 'hosts disable', 'track', 'untrack', 'restore', 'agent-key']) {
      const help = cli([...command.split(' '), '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain('Usage: clawbox-reaper');
    }
    expect(cli(['reap', '--help']).stdout).toMatch(/--now\s+remove orphans at once, without quarantine/);
  });
});

describe('engines, guards and quarantine through the CLI (S10, S4, S11)', () => {
  it('lists each host\'s engine; `hosts repin` unpins it and the next run pins it again', () => {
    const before = testHost();
    expect(before.engineId).toBeDefined();
    const listing = cli(['hosts', ...api()]);
    expect(listing.stdout).toMatch(/^HOST\s+AGENT\s+ENABLED\s+MAX REAP\s+ENGINE\s+/);
    expect(listing.stdout).toMatch(new RegExp(`test-host\\s+\\S+\\s+yes\\s+-\\s+${escape(shortEngine(before.engineId!))}\\s`));

    const repin = cli(['hosts', 'repin', 'test-host', ...api()]);
    expect(repin.code, repin.stderr).toBe(0);
    expect(repin.stdout).toContain(`host test-host unpinned from engine ${before.engineId}`);
    expect(repin.stdout).toContain('the next run pins it to the engine its agent reports');
    const after = testHost();
    expect(after.engineId).toBeUndefined();
    expect(after.enginePinnedAt).toBeUndefined();
    // Nothing else changed.
    const { engineId: _e, enginePinnedAt: _p, updatedAt: _u, ...kept } = before as HostJson & { updatedAt?: string };
    expect(after).toMatchObject(kept);
    expect(cli(['hosts', ...api()]).stdout).toMatch(/test-host\s+\S+\s+yes\s+-\s+unpinned\s/);

    const again = cli(['hosts', 'repin', 'test-host', ...api()]);
    expect(again.stdout).toContain('was not pinned to an engine');

    expect(cli(['reap', '--dry-run', ...api()]).code).toBe(0);
    expect(testHost().engineId).toBe(before.engineId);

    const missing = cli(['hosts', 'repin', 'nobody', ...api()]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('host nobody is not registered, so there is nothing to re-pin');
    expect(hostsJson().map((h) => h.hostId)).toEqual(['test-host']);
  });

  it('refuses `reap --force` without --host itself (exit 2) and starts no run; the API refuses it too', async () => {
    const before = allReports().length;
    const forced = cli(['reap', '--force', ...api()]);
    expect(forced.code).toBe(2);
    expect(forced.stderr).toContain('--force lifts the guards only for hosts you name: add --host ID');
    expect(forced.stderr).not.toContain('started');
    await sleep(500);
    expect(allReports().length).toBe(before);
    const token = (await import('node:fs')).readFileSync(join(dir, 'data', 'api-token'), 'utf8').trim();
    const direct = await fetch(`${local!.apiUrl}/v1/reaps`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"force":true}' });
    expect(direct.status).toBe(400);
    expect(((await direct.json()) as { error: { code: string } }).error.code).toBe('force_needs_hosts');
    expect(allReports().length).toBe(before);
  });

  it('prints which guard capped a host and what to do next, and `reap --host H --force` then reaps it', async () => {
    // kept-1 is tracked; four untracked: 4 of 5 labelled are orphans, more than half (S4 extended).
    const orphans = await makeContainers(current.docker, ['cap-1', 'cap-2', 'cap-3', 'cap-4'].map((clawboxId) => ({ clawboxId })));
    await sleep(2_100);
    const percent = cli(['reap', ...api()]);
    expect(percent.code).toBe(1);
    expect(percent.stdout).toMatch(/test-host\s+capped\s+5\s+1\s+4\s/);
    expect(percent.stdout).toContain('test-host: capped by max-reap-percent: 4 of 5 labelled containers are orphans, more than the 2 allowed; nothing was touched.');
    expect(percent.stdout).toContain('The registry may have been emptied or written under the wrong host id: check `clawbox-reaper hosts containers test-host`.');
    expect(percent.stdout).toContain('`clawbox-reaper reap --host test-host --force`, or raise REAPER_MAX_REAP_PERCENT');
    expect(percent.stderr).toContain('test-host: capped, 0 removed of 4 orphans [max-reap-percent]');
    for (const o of orphans) expect(await stateOf(current.docker, o.id), o.clawboxId).toBe('running');

    // A per-host cap below the orphans: the max-reap guard, which fires first.
    const { agentUrl } = testHost();
    expect(cli(['hosts', 'add', 'test-host', '--url', agentUrl, '--max-reap', '2', ...api()]).code).toBe(0);
    const count = cli(['reap', ...api()]);
    expect(count.code).toBe(1);
    expect(count.stdout).toContain('test-host: capped by max-reap: 4 orphans of 5 labelled, more than the limit of 2; nothing was touched.');
    expect(count.stdout).toContain('Check the registry first (`clawbox-reaper hosts containers test-host`)');
    expect(count.stdout).toContain(`\`clawbox-reaper reap --host test-host --force\`, or raise the host's cap: \`clawbox-reaper hosts add test-host --url ${agentUrl} --max-reap N\``);
    for (const o of orphans) expect(await stateOf(current.docker, o.id), o.clawboxId).toBe('running');
    // The cap is still the host's own after `hosts add`, and the engine pin survived it.
    expect(testHost()).toMatchObject({ maxReap: 2, engineId: expect.any(String) });

    const forced = cli(['reap', '--host', 'test-host', '--force', ...api()]);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/test-host\s+ok\s+5\s+1\s+4\s+0\s+4\s+0/);
    expect(forced.stdout).not.toContain('capped');
    const ids = await existingIds(current.docker);
    for (const o of orphans) expect(ids.has(o.id), o.clawboxId).toBe(false);
    // `hosts add` keeps the settings not given; `--max-reap default` drops the host's own cap.
    expect(cli(['hosts', 'add', 'test-host', '--url', agentUrl, ...api()]).code).toBe(0);
    expect(testHost().maxReap).toBe(2);
    expect(cli(['hosts', 'add', 'test-host', '--max-reap', 'default', ...api()]).code).toBe(0);
    expect(testHost()).toMatchObject({ agentUrl, engineId: expect.any(String) });
    expect(testHost().maxReap).toBeUndefined();
  });

  it('refuses a host whose engine changed (engine_mismatch) with the error and the repin hint; after `hosts repin` it is reaped again', async () => {
    const pinned = testHost().engineId!;
    // The host's engine "replaced": the stack's agent now serves another engine.
    engine2 = await startEngine();
    expect(await stopLocal()).toBe(0);
    current = engine2;
    local = await startLocal();
    const [stray] = await makeContainers(current.docker, [{ clawboxId: 'stray-1' }]);
    await sleep(2_100);

    const refused = cli(['reap', ...api()]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/test-host\s+refused\s/);
    expect(refused.stdout).toMatch(new RegExp(`test-host: refused \\(engine_mismatch\\): the agent reports engine \\S+, but this host is pinned to ${escape(pinned)}; nothing was touched`));
    expect(refused.stdout).toContain('clawbox-reaper hosts repin test-host');
    expect(await stateOf(current.docker, stray!.id)).toBe('running');
    expect(testHost().engineId).toBe(pinned);

    expect(cli(['hosts', 'repin', 'test-host', ...api()]).code).toBe(0);
    const reaped = cli(['reap', ...api()]);
    expect(reaped.code, reaped.stdout + reaped.stderr).toBe(0);
    expect(reaped.stdout).toMatch(/test-host\s+ok\s+1\s+0\s+1\s+0\s+1\s+0/);
    expect(await stateOf(current.docker, stray!.id)).toBeUndefined();
    const repinned = testHost().engineId;
    expect(repinned).toBeDefined();
    expect(repinned).not.toBe(pinned);
    // Two engines on one machine: the listing's short ids still tell them apart.
    expect(shortEngine(repinned!)).not.toBe(shortEngine(pinned));
    expect(cli(['hosts', ...api()]).stdout).toContain(` ${shortEngine(repinned!)} `);
  });

  it('quarantines orphans by default, `restore` unpauses one now, and `reap --now` removes the rest at once', async () => {
    expect(await stopLocal()).toBe(0);
    local = await startLocal({ REAPER_QUARANTINE_SECONDS: '600' });
    const [q1, q2] = await makeContainers(current.docker, [{ clawboxId: 'q-1' }, { clawboxId: 'q-2' }]);
    await sleep(2_100);

    const reap = cli(['reap', ...api()]);
    expect(reap.code, reap.stdout + reap.stderr).toBe(0);
    expect(reap.stdout).toMatch(/^HOST\s+STATUS\s+LABELLED\s+TRACKED\s+ORPHANS\s+YOUNG\s+REMOVED\s+FAILED\s+QUARANTINED\s+RESTORED\s+TIME/);
    expect(reap.stdout).toMatch(/test-host\s+ok\s+2\s+0\s+2\s+0\s+0\s+0\s+2\s+0\s/);
    expect(reap.stderr).toContain('test-host: ok, 0 removed of 2 orphans, 2 quarantined');
    expect(await stateOf(current.docker, q1!.id)).toBe('paused');
    expect(await stateOf(current.docker, q2!.id)).toBe('paused');

    const restored = cli(['restore', 'test-host', 'q-1', '--lease', '2h', '--owner', 'ops', ...api()]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/^restored q-1 on test-host: tracked again until \S+ and unpaused now\n/);
    expect(restored.stdout).toContain(`${q1!.id.slice(0, 12)}  unpaused, running again`);
    expect(await stateOf(current.docker, q1!.id)).toBe('running');
    const tracked = JSON.parse(cli(['hosts', 'containers', 'test-host', '--json', ...api()]).stdout) as { containerId: string; owner?: string; leaseExpiresAt?: number }[];
    const item = tracked.find((t) => t.containerId === 'q-1')!;
    expect(item.owner).toBe('ops');
    expect(Math.abs(item.leaseExpiresAt! - (Date.now() / 1000 + 7200))).toBeLessThan(60);

    const none = cli(['restore', 'test-host', 'never-quarantined', ...api()]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('no container labelled never-quarantined is in quarantine on test-host, so nothing was restored or tracked');
    const again = cli(['restore', 'test-host', 'q-1', '--json', ...api()]);
    expect(again.code).toBe(3);

    const now = cli(['reap', '--now', ...api()]);
    expect(now.code, now.stdout + now.stderr).toBe(0);
    expect(now.stderr).toContain('removing at once, no quarantine');
    expect(now.stdout).toMatch(/test-host\s+ok\s+2\s+1\s+1\s+0\s+1\s+0\s+0\s+0\s/);
    expect(await stateOf(current.docker, q2!.id)).toBeUndefined();
    expect(await stateOf(current.docker, q1!.id)).toBe('running');
  });
});

describe('rough edges a new user hit (issue 11, item 3)', () => {
  it('suggests commands with the API address and data dir given, and shows the effective settings', () => {
    const banner = local!.stderr();
    expect(banner).toContain(`  clawbox-reaper hosts --api ${local!.apiUrl} --data-dir ${join(dir, 'data')}\n`);
    expect(banner).toContain(`  clawbox-reaper reap --dry-run --api ${local!.apiUrl} --data-dir ${join(dir, 'data')}\n`);
    expect(banner).not.toContain('npx clawbox-reaper');
    expect(banner).toMatch(/settings\s+grace 0s, stop timeout 1s, max reap 100\/host, max reap percent 50% \(above 3 orphans\), fleet max reap 1000, quarantine 600s, lease skew 60s/);
  });

  it('answers a value the API refuses as usage (exit 2) naming the flag, and --json errors as JSON on stdout', () => {
    const cap = cli(['hosts', 'add', 'nohost', '--url', 'http://127.0.0.1:9', '--max-reap', '20000', ...api()]);
    expect(cap.code).toBe(2);
    expect(cap.stderr).toMatch(/^clawbox-reaper: invalid --max-reap: .*10000/);
    expect(cap.stderr).not.toMatch(/contract|PUT \/v1/);
    const url = cli(['hosts', 'add', 'nohost', '--url', 'ftp://x', ...api()]);
    expect(url.code).toBe(2);
    expect(url.stderr).toMatch(/^clawbox-reaper: invalid --url: /);
    const noUrl = cli(['hosts', 'add', 'nohost', ...api()]);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain('host nohost is not registered yet: give its agent\'s URL with --url');

    const json = cli(['hosts', 'add', 'nohost', '--url', 'ftp://x', '--json', ...api()]);
    expect(json.code).toBe(2);
    const body = JSON.parse(json.stdout) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('usage');
    expect(body.error.message).toMatch(/^invalid --url: /);
    const unknownOption = cli(['reap', '--bogus', '--json']);
    expect(unknownOption.code).toBe(2);
    expect(JSON.parse(unknownOption.stdout)).toEqual({ error: { code: 'usage', message: "unknown option '--bogus'" } });

    // An unknown host: refused (exit 3), with the CLI command that registers it, not the API route.
    const track = cli(['track', 'nohost', 'x', ...api()]);
    expect(track.code).toBe(3);
    expect(track.stderr).toContain('host nohost is not registered; `clawbox-reaper hosts` lists the registered hosts, `clawbox-reaper hosts add nohost --url AGENT_URL` registers it');
    expect(track.stderr).not.toContain('PUT /v1');
    const trackJson = cli(['track', 'nohost', 'x', '--json', ...api()]);
    expect(trackJson.code).toBe(3);
    expect(JSON.parse(trackJson.stdout)).toMatchObject({ error: { code: 'host_not_found' } });
    const down = cli(['hosts', '--json', '--api', 'http://127.0.0.1:9']);
    expect(down.code).toBe(3);
    expect(JSON.parse(down.stdout)).toMatchObject({ error: { code: 'api_unreachable' } });
    expect(hostsJson().map((h) => h.hostId)).toEqual(['test-host']);
  });

  it('`agent-key` finds the master key in the data dir and says which file; else names the file and REAPER_MASTER_KEY', () => {
    const master = readFileSync(join(dir, 'data', 'master-key'), 'utf8').trim();
    const given = cli(['agent-key', '--host', 'test-host', '--data-dir', join(dir, 'data')]);
    expect(given.code, given.stderr).toBe(0);
    expect(given.stdout).toBe(`${deriveHostKey(master, 'test-host')}\n`);
    expect(given.stderr).toContain(`using the master key in ${join(dir, 'data', 'master-key')}`);

    const none = cli(['agent-key', '--host', 'test-host']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('.clawbox-reaper/master-key');
    expect(none.stderr).toContain('REAPER_MASTER_KEY');

    // In the project directory (the default data dir), as the token is found.
    mkdirSync(join(dir, '.clawbox-reaper'), { recursive: true });
    writeFileSync(join(dir, '.clawbox-reaper', 'master-key'), `${master}\n`, { mode: 0o600 });
    try {
      const found = cli(['agent-key', '--host', 'test-host']);
      expect(found.code, found.stderr).toBe(0);
      expect(found.stdout).toBe(`${deriveHostKey(master, 'test-host')}\n`);
      expect(found.stderr).toContain('using the master key in .clawbox-reaper/master-key');
      expect(cli(['agent-key', '--host', 'test-host'], { REAPER_MASTER_KEY: 'ab'.repeat(32) }).stdout).toBe(`${deriveHostKey('ab'.repeat(32), 'test-host')}\n`);
    } finally {
      rmSync(join(dir, '.clawbox-reaper'), { recursive: true, force: true });
    }
  });

  it('`reap --no-wait` prints the run id alone on stdout, progress on stderr', async () => {
    const started = cli(['reap', '--no-wait', '--dry-run', ...api()]);
    expect(started.code, started.stderr).toBe(0);
    const runId = started.stdout.trim();
    expect(started.stdout).toBe(`${runId}\n`);
    expect(started.stderr).toContain(`run ${runId} started on 1 host(s)`);
    const deadline = Date.now() + 30_000;
    while (!allReports().some((r) => r.runId === runId)) {
      if (Date.now() > deadline) throw new Error(`run ${runId} has no report`);
      await sleep(200);
    }
  });

  it('`hosts remove` and `untrack` say when nothing was there; `hosts add` keeps what is not given; `hosts enable/disable`', () => {
    const removeNone = cli(['hosts', 'remove', 'nohost', ...api()]);
    expect(removeNone.code).toBe(0);
    expect(removeNone.stdout).toBe('host nohost is not registered: nothing was removed\n');
    expect(JSON.parse(cli(['hosts', 'remove', 'nohost', '--json', ...api()]).stdout)).toEqual({ hostId: 'nohost', removed: false });
    const untrackNone = cli(['untrack', 'nohost', 'x', ...api()]);
    expect(untrackNone.code).toBe(0);
    expect(untrackNone.stdout).toBe('x was not tracked on nohost: nothing changed\n');

    expect(cli(['track', 'test-host', 'tmp-1', ...api()]).code).toBe(0);
    expect(cli(['untrack', 'test-host', 'tmp-1', ...api()]).stdout).toBe('untracked tmp-1 on test-host\n');
    expect(cli(['untrack', 'test-host', 'tmp-1', ...api()]).stdout).toBe('tmp-1 was not tracked on test-host: nothing changed\n');

    const host = (id: string) => hostsJson().find((h) => h.hostId === id) as (HostJson & { enabled: boolean }) | undefined;
    expect(cli(['hosts', 'add', 'h2', '--url', 'http://127.0.0.1:9', '--max-reap', '7', ...api()]).stdout).toBe('host h2 registered (http://127.0.0.1:9, enabled, max reap 7)\n');
    expect(cli(['hosts', 'add', 'h2', '--url', 'http://127.0.0.1:10', ...api()]).stdout).toBe('host h2 updated (http://127.0.0.1:10, enabled, max reap 7)\n');
    expect(host('h2')).toMatchObject({ agentUrl: 'http://127.0.0.1:10', maxReap: 7, enabled: true });
    const disabled = cli(['hosts', 'disable', 'h2', ...api()]);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toContain('host h2 disabled');
    expect(host('h2')).toMatchObject({ maxReap: 7, enabled: false });
    expect(cli(['hosts', 'add', 'h2', '--max-reap', '8', ...api()]).code).toBe(0);
    expect(host('h2')).toMatchObject({ agentUrl: 'http://127.0.0.1:10', maxReap: 8, enabled: false });
    expect(cli(['hosts', 'disable', 'h2', ...api()]).stdout).toContain('was already disabled');
    expect(cli(['hosts', 'enable', 'h2', ...api()]).stdout).toContain('host h2 enabled');
    expect(host('h2')).toMatchObject({ maxReap: 8, enabled: true });
    const enableNone = cli(['hosts', 'enable', 'nohost', ...api()]);
    expect(enableNone.code).toBe(3);
    expect(enableNone.stderr).toContain('host nohost is not registered, so there is nothing to enable');
    expect(cli(['hosts', 'remove', 'h2', ...api()]).stdout).toBe('host h2 removed\n');
    expect(hostsJson().map((h) => h.hostId)).toEqual(['test-host']);
  });

  it('`reports` says when there are more than shown; --json reports carry no storage fields', () => {
    const all = allReports();
    expect(all.length).toBeGreaterThan(2);
    for (const r of all) for (const field of ['sk', 'day', 'expiresAt']) expect(r, field).not.toHaveProperty(field);
    const one = cli(['reports', '--limit', '1', ...api()]);
    expect(one.code).toBe(0);
    expect(one.stdout.trim().split('\n')).toHaveLength(2);
    expect(one.stderr).toContain('1 of more reports shown (newest first); --limit N or --all for more');
    const everything = cli(['reports', '--all', ...api()]);
    expect(everything.stdout.trim().split('\n')).toHaveLength(all.length + 1);
    expect(everything.stderr).toBe('');
    const full = JSON.parse(cli(['reports', '--json', '--run', all[0]!.runId, '--host', all[0]!.hostId, ...api()]).stdout) as object;
    expect(full).toHaveProperty('runId');
    for (const field of ['sk', 'day', 'expiresAt']) expect(full, field).not.toHaveProperty(field);
  });

  it('refuses a bad setting, a port in use and a second stack on the data dir with one line each, exit 2, before starting', () => {
    const oneLine = (r: { code: number | null; stdout: string; stderr: string }) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).not.toContain('agent listening');
    };
    const args = (data: string, apiListen = '127.0.0.1:0') => ['local', '--data-dir', join(dir, data), '--api-listen', apiListen, '--agent-listen', '127.0.0.1:0', '--host-id', 'test-host'];
    const grace = cli(args('data-grace'), { REAPER_GRACE_SECONDS: '2m', REAPER_LOG_LEVEL: 'info' });
    oneLine(grace);
    expect(grace.stderr).toMatch(/^clawbox-reaper: invalid reaper configuration: REAPER_GRACE_SECONDS: /);

    const port = new URL(local!.apiUrl).port;
    const inUse = cli(args('data-port', `127.0.0.1:${port}`));
    oneLine(inUse);
    expect(inUse.stderr).toContain(`clawbox-reaper: cannot listen on 127.0.0.1:${port}: it is already in use`);
    expect(inUse.stderr).toContain('--api-listen');

    const second = cli(args('data'));
    oneLine(second);
    expect(second.stderr).toContain('is in use: is another `clawbox-reaper local` running on this data dir?');
    // The running stack is unharmed.
    expect(cli(['hosts', ...api()]).code).toBe(0);
  });

  it('logs API requests at debug (4xx/5xx still at info), and stops promptly on Ctrl-C with one line', async () => {
    expect(await stopLocal()).toBe(0);
    local = await startLocal({ REAPER_LOG_LEVEL: 'info' });
    for (let i = 0; i < 3; i++) expect(cli(['hosts', ...api()]).code).toBe(0);
    expect(cli(['hosts', '--api', local.apiUrl], { REAPER_API_TOKEN: 'wrong' }).code).toBe(3);
    await sleep(300);
    const requests = local.stdout().split('\n').filter((l) => l.includes('"msg":"request"'));
    expect(requests.length, local.stdout()).toBeGreaterThanOrEqual(1);
    for (const line of requests) expect((JSON.parse(line) as { status: number }).status, line).toBeGreaterThanOrEqual(400);

    const { child, stderr } = local;
    const before = stderr().length;
    local = undefined;
    const began = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(Date.now() - began).toBeLessThan(1500);
    expect(stderr().slice(before).trim().split('\n')).toEqual(['SIGINT: stopping clawbox-reaper local (a reap in flight first writes its reports)']);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
