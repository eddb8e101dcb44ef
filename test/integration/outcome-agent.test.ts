/**
 * The agent's side of recoverable outcomes (SPEC §4 `GET /v1/reaps/:runId`, `--state-dir`, S6) on
 * a real agent over HTTP and a private engine: the report exactly as POST /v1/reap answered it,
 * 202 while the run is in flight, 404 for a run never started here; and the state dir surviving
 * a restart: the stored report is answered, and a retried command with that runId replays it
 * instead of reaping again.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapReport, ReapRequest } from '../../lib/agent-contract.js';
import { AgentCallError } from '../../lib/agent-client.js';
import { anchored, rawRequest, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { makeContainer, stateOf } from '../helpers/containers.js';
import { startEngine, type Engine } from '../helpers/engine.js';

const HOST = 'oa-host';
let engine: Engine;
let agent: TestAgent;
let stateDir: string;
let port: number;

function command(runId: string, extra: Partial<ReapRequest> = {}): Omit<ReapRequest, 'anchor'> {
  return {
    runId,
    hostId: HOST,
    tracked: [],
    snapshotAt: new Date().toISOString(),
    graceSeconds: 0,
    stopTimeoutSeconds: 0,
    maxReap: 100,
    dryRun: false,
    quarantineSeconds: 0,
    ...extra,
  };
}

async function restart(): Promise<void> {
  await agent.close();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: HOST, masterKey: agent.masterKey, stateDir, port });
}

beforeAll(async () => {
  engine = await startEngine();
  stateDir = mkdtempSync(join(tmpdir(), 'cre-oa-state-'));
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: HOST, stateDir });
  port = Number(new URL(agent.url).port);
});

afterAll(async () => {
  await agent?.close();
  await engine?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('GET /v1/reaps/:runId', () => {
  it('answers the report exactly as POST /v1/reap did; 404 unknown_run for a run never started here; signed, and the run id checked', async () => {
    const orphan = await makeContainer(engine.docker, { clawboxId: 'oa-orphan-1', kind: 'exited' });
    await sleep(2100);
    const answered = await agent.client.reap(await anchored(agent, command('run-oa-exact-1')));
    expect(answered.counts.removed).toBe(1);
    expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();

    const raw = await rawRequest(agent, { path: '/v1/reaps/run-oa-exact-1' });
    expect(raw.status).toBe(200);
    expect(raw.json).toEqual(answered);
    expect(await agent.client.reapResult('run-oa-exact-1')).toEqual(answered);

    expect(await rawRequest(agent, { path: '/v1/reaps/run-oa-never-1' })).toMatchObject({ status: 404, json: { error: { code: 'unknown_run' } } });
    expect(await rawRequest(agent, { path: '/v1/reaps/x' })).toMatchObject({ status: 400, json: { error: { code: 'validation_failed' } } });
    expect(await rawRequest(agent, { path: '/v1/reaps/run-oa-exact-1', unsigned: true })).toMatchObject({ status: 401 });
    const error = await agent.client.reapResult('run-oa-never-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentCallError);
    expect(error).toMatchObject({ httpStatus: 404, code: 'unknown_run' });
  });

  it('answers 202 { runId, status: "running" } while the run is in flight, then its report', async () => {
    // busybox sleep ignores SIGTERM: the stop waits out the whole timeout.
    const slow = await makeContainer(engine.docker, { clawboxId: 'oa-slow-1', kind: 'running' });
    await sleep(2100);
    const reap = agent.client.reap(await anchored(agent, command('run-oa-slow-01', { stopTimeoutSeconds: 2 })));
    await sleep(400);
    const during = await rawRequest(agent, { path: '/v1/reaps/run-oa-slow-01' });
    expect(during).toMatchObject({ status: 202, json: { runId: 'run-oa-slow-01', status: 'running' } });
    expect(await agent.client.reapResult('run-oa-slow-01')).toEqual({ runId: 'run-oa-slow-01', status: 'running' });
    const report = await reap;
    expect(report.counts.removed).toBe(1);
    expect(await agent.client.reapResult('run-oa-slow-01')).toEqual(report);
    expect(await stateOf(engine.docker, slow.id)).toBeUndefined();
  });
});

describe('the state dir survives a restart (S6)', () => {
  let first: ReapReport;

  it('after a restart, the stored report is answered as it was (engineId and clockOffsetMs included)', async () => {
    await makeContainer(engine.docker, { clawboxId: 'oa-restart-1', kind: 'exited' });
    await sleep(2100);
    first = await agent.client.reap(await anchored(agent, command('run-oa-restart-1')));
    expect(first.counts.removed).toBe(1);
    expect(readdirSync(join(stateDir, HOST))).toContain('run-oa-restart-1.report.gz');

    await restart();
    expect(agent.url).toContain(`:${port}`);
    expect(await agent.client.reapResult('run-oa-restart-1')).toEqual(first);
    expect((await rawRequest(agent, { path: '/v1/reaps/run-oa-restart-1' })).json).toEqual(first);
  });

  it('a retried command with that runId after the restart replays the first report and reaps nothing', async () => {
    const newOrphan = await makeContainer(engine.docker, { clawboxId: 'oa-restart-2', kind: 'exited' });
    await sleep(2100);
    const body = JSON.stringify(await anchored(agent, command('run-oa-restart-1')));
    const retry = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-reaper-replayed')).toBe('true');
    expect(retry.json).toEqual(first);
    expect(await stateOf(engine.docker, newOrphan.id)).toBe('exited');

    // Even one signed before this process started (a retry in flight across the restart): the
    // run is known, so it is answered from the state dir; a run not known is still refused.
    const signedAt = Math.floor(Date.now() / 1000) - 60;
    const old = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body: JSON.stringify(await anchored(agent, command('run-oa-restart-1', { snapshotAt: new Date(signedAt * 1000).toISOString() }))), timestamp: signedAt });
    expect(old).toMatchObject({ status: 200, json: first });
    const unknown = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body: JSON.stringify(await anchored(agent, command('run-oa-unknown-1', { snapshotAt: new Date(signedAt * 1000).toISOString() }))), timestamp: signedAt });
    expect(unknown).toMatchObject({ status: 409, json: { error: { code: 'signed_before_start' } } });
    expect(await stateOf(engine.docker, newOrphan.id)).toBe('exited');

    // A new run does reap it.
    const next = await agent.client.reap(await anchored(agent, command('run-oa-restart-2')));
    expect(next.counts.removed).toBe(1);
    expect(await stateOf(engine.docker, newOrphan.id)).toBeUndefined();
  });
});
