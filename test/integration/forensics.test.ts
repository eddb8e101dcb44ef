/**
 * Forensic records (SPEC §9) and S9, end to end: real containers on a private engine whose
 * environment holds secrets and whose logs print them, an AWS-style key, a token and a PEM
 * private key; a real reaper run through a real agent into the report store (dynalite). The
 * record is there (image, command, times, exit code, logs), and no planted secret reaches the
 * agent's answer, its stored report (GET /v1/reaps/:runId and its state dir on disk), the
 * control plane's stored report, or either side's logs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../functions/store/index.js';
import { MASK } from '../../agent/redact.js';
import { createForensicsPort, type ForensicsPort } from '../../agent/forensics.js';
import { startAgent } from '../../agent/main.js';
import { createAgentClient } from '../../lib/agent-client.js';
import { decodeKey, deriveHostKey } from '../../lib/signing.js';
import { anchored, capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { podmanInstalled, startPodman } from '../helpers/podman.js';
import { LABEL, TEST_RUN_LABEL } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, TEST_IMAGE, type Engine } from '../helpers/engine.js';
import { testReaper } from '../helpers/reaper.js';

const MASTER = randomBytes(32).toString('hex');
const reaperLog = capturingLogger('debug');
let engine: Engine;
let agent: TestAgent;
let dynamo: TestDynamo;
let store: Store;
let stateDir: string;

beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'forensics-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  engine = await startEngine();
  stateDir = mkdtempSync(join(tmpdir(), 'cre-fstate-'));
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'forensic-host', masterKey: MASTER, stateDir });
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
  await dynamo?.close();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const reverse = (text: string) => [...text].reverse().join('');
const upperDigits = (n: number) => Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

/** Every file under a directory, concatenated (gzipped ones unpacked: the agent keeps its reports so). */
function allFiles(dir: string): string {
  let out = '';
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out += allFiles(path);
    else {
      const bytes = readFileSync(path);
      out += (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
    }
  }
  return out;
}

/** Two orphans (one running, one exited with 3) whose logs print planted secrets. */
async function plantedOrphans(docker: Engine['docker']) {
  const t = randomUUID().slice(0, 8);
  // Secrets only the environment knows (masked by value) ...
  const envSecret = `plant-${randomUUID()}`;
  const dbPassword = `pw${randomBytes(6).toString('hex')}`;
  // ... and secrets the container makes up at run time (reversed in its command, so neither the
  // environment nor the command holds them verbatim): masked by their shape alone.
  const awsKey = `AKIA${upperDigits(16)}`;
  const token = randomBytes(12).toString('hex');
  const pemBody = randomBytes(48).toString('base64');
  const script = [
    // First, and a moment before the rest: the engine copies stdout and stderr from separate
    // pipes, so a stderr line written among stdout lines may be logged anywhere between them
    // (inside the PEM block, where the whole block is masked).
    `echo "stderr line ${t}" >&2`,
    'sleep 1',
    `echo "boot ok ${t}"`,
    'echo "app secret is $APP_SECRET"',
    'echo "connecting to postgres://app:$DB_PASSWORD@db:5432/app"',
    `echo "aws key $(echo '${reverse(awsKey)}' | busybox rev) loaded"`,
    `echo "token=$(echo '${reverse(token)}' | busybox rev)"`,
    'echo "-----BEGIN RSA PRIVATE KEY-----"',
    `echo '${reverse(pemBody)}' | busybox rev`,
    'echo "-----END RSA PRIVATE KEY-----"',
  ].join('; ');
  const secrets = [envSecret, dbPassword, awsKey, token, pemBody];
  const make = async (clawboxId: string, tail: string) => {
    const c = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', `${script}; ${tail}`],
      Env: [`APP_SECRET=${envSecret}`, `DB_PASSWORD=${dbPassword}`, 'MODE=production'],
      Labels: { [LABEL]: clawboxId, [TEST_RUN_LABEL]: 'forensics' },
      HostConfig: { NetworkMode: 'none' },
    });
    await c.start();
    return c;
  };
  const running = await make(`${t}-running`, 'exec sleep 3600');
  const exited = await make(`${t}-exited`, 'exit 3');
  await exited.wait();
  // The running one has printed its lines by now; both are old enough for a grace of 0 after 2 s.
  await sleep(2_100);
  // The planted lines are really in the engine's logs.
  expect((await exited.logs({ stdout: true, stderr: true })).toString()).toContain(awsKey);
  return { t, secrets, running, exited };
}

describe('forensic records with planted secrets', () => {
  it('keeps a redacted record of each orphan, and no secret anywhere', async () => {
    const { t, secrets, running, exited } = await plantedOrphans(engine.docker);

    await store.hosts.put(agent.hostId, { agentUrl: agent.url, enabled: true });
    const reaper = testReaper({ store, masterKey: MASTER, logger: reaperLog.logger });
    const result = await reaper.run({ trigger: 'api', deadlineAt: Date.now() + 60_000, hosts: [agent.hostId] });
    const stored = await store.reports.getReport(agent.hostId, result.runId);
    expect(stored?.status).toBe('ok');
    await expect(running.inspect()).rejects.toMatchObject({ statusCode: 404 });

    // The record, as stored by the control plane.
    const exitedEntry = stored!.containers.find((c) => c.dockerId === exited.id);
    const runningEntry = stored!.containers.find((c) => c.dockerId === running.id);
    expect(exitedEntry?.action).toBe('removed');
    const record = exitedEntry!.record!;
    expect(record).toMatchObject({ image: TEST_IMAGE, exitCode: 3, restartCount: 0 });
    expect(record.command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(record.createdAt && record.startedAt && record.finishedAt).toBeTruthy();
    expect(record.logs).toContain(`boot ok ${t}`);
    expect(record.logs).toContain(`stderr line ${t}`);
    expect(record.logs).toContain(`app secret is ${MASK}`);
    expect(record.logs).toContain(`token=${MASK}`);
    expect(Buffer.byteLength(record.logs!)).toBeLessThanOrEqual(4096);
    // A running orphan has no exit code yet; its logs are recorded before it is stopped.
    expect(runningEntry?.record?.exitCode).toBeUndefined();
    expect(runningEntry?.record?.logs).toContain(`boot ok ${t}`);

    // No secret anywhere: the answer as the agent keeps it, its state dir, the control plane's
    // item as DynamoDB holds it, and both sides' logs.
    const agentReport = await agent.client.reapResult(result.runId);
    const raw = await dynamo.client.send(new ScanCommand({ TableName: dynamo.tables.reports }));
    const places: Record<string, string> = {
      'agent report': JSON.stringify(agentReport),
      'agent state dir': allFiles(stateDir),
      'stored report items': JSON.stringify(raw.Items),
      'agent log': agent.logLines.join('\n'),
      'reaper log': reaperLog.lines.join('\n'),
    };
    expect(places['agent report']).toContain(`boot ok ${t}`);
    expect(places['agent state dir']).toContain(`boot ok ${t}`);
    for (const [place, text] of Object.entries(places)) {
      for (const secret of secrets) expect(text.includes(secret), `${place} holds a planted secret`).toBe(false);
      // The environment is never copied, not even its names.
      expect(text.includes('APP_SECRET='), `${place} holds the environment`).toBe(false);
    }
  });
});

describe('a record never holds up or fails a removal', () => {
  it('an engine that does not answer an inspect, or fails a log read, still gets its orphans removed, and the records say what is missing', async () => {
    const t = randomUUID().slice(0, 8);
    const real = createForensicsPort({ dockerHost: engine.dockerHost });
    const make = async (suffix: string) => {
      const c = await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sh', '-c', `echo hello ${suffix}; exec sleep 3600`], Labels: { [LABEL]: `${t}-${suffix}`, [TEST_RUN_LABEL]: 'forensics' }, HostConfig: { NetworkMode: 'none' } });
      await c.start();
      return c.id;
    };
    const [hangs, fails, fine] = [await make('hangs'), await make('fails'), await make('fine')];
    // Faults a real engine does not produce on demand: an inspect that never answers (until its
    // deadline aborts it), and a log read that fails.
    const faulty: ForensicsPort = {
      inspect: (id, signal) =>
        id === hangs ? new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })) : real.inspect(id, signal),
      logs: (id, options, signal) => (id === fails ? Promise.reject(new Error('injected log failure')) : real.logs(id, options, signal)),
    };
    const hostId = 'forensic-faults';
    const hostKey = decodeKey(deriveHostKey(MASTER, hostId));
    const dir = mkdtempSync(join(tmpdir(), 'cre-fstate-'));
    const { logger } = capturingLogger();
    const running = await startAgent(
      { hostId, listen: { host: '127.0.0.1', port: 0 }, hostKey, dockerHost: engine.dockerHost, label: LABEL, concurrency: 16, bodyLimitBytes: 1 << 24, publicMetrics: false, stateDir: dir, stateDirIsDefault: false, stateBudgetBytes: 1 << 26, logLevel: 'info' },
      { logger, forensics: faulty },
    );
    try {
      await sleep(2_100);
      const client = createAgentClient({ baseUrl: running.url, hostKey });
      const { anchor } = await client.identity();
      const report = await client.reap({ runId: randomUUID(), hostId, tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 1, maxReap: 100, dryRun: false, anchor });
      const byId = (id: string) => report.containers.find((c) => c.dockerId === id);
      for (const id of [hangs, fails, fine]) {
        expect(byId(id)?.action).toBe('removed');
        await expect(engine.docker.getContainer(id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      }
      expect(byId(hangs)?.record).toMatchObject({ command: [], note: expect.stringContaining('not inspected (the engine did not answer in time)') });
      expect(byId(hangs)?.record?.logs).toBeUndefined();
      expect(byId(fails)?.record).toMatchObject({ command: ['sh', '-c', expect.any(String)], note: expect.stringContaining('logs not read (injected log failure)') });
      expect(byId(fine)?.record?.logs).toBe('hello fine\n');
      expect(report.status).toBe('ok');
    } finally {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(podmanInstalled())('on Podman', () => {
  let podman: Engine | undefined;
  let podmanAgent: TestAgent | undefined;
  afterAll(async () => {
    await podmanAgent?.close();
    await podman?.stop();
  });

  it('keeps the same redacted record through its Docker-compatible API', async () => {
    podman = await startPodman();
    podmanAgent = await startTestAgent({ dockerHost: podman.dockerHost, hostId: 'forensic-podman' });
    const { t, secrets, exited } = await plantedOrphans(podman.docker);
    const report = await podmanAgent.client.reap(await anchored(podmanAgent, { runId: randomUUID(), hostId: 'forensic-podman', tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 1, maxReap: 100, dryRun: false }));
    const record = report.containers.find((c) => c.dockerId === exited.id)?.record;
    expect(record).toMatchObject({ exitCode: 3, command: ['sh', '-c', expect.any(String)] });
    expect(record?.logs).toContain(`boot ok ${t}`);
    expect(record?.logs).toContain(`stderr line ${t}`);
    expect(record?.logs).toContain(`app secret is ${MASK}`);
    const text = JSON.stringify(report) + podmanAgent.logLines.join('\n');
    for (const secret of secrets) expect(text.includes(secret), 'a planted secret reached the report or the log').toBe(false);
  });
});
