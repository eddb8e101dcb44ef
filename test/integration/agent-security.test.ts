/**
 * Security checks on real parts: a captured signed reap replayed byte for byte, signatures reused
 * for another body / path / method, and secrets (master key, host keys, signatures) absent from
 * every log line of the agents and of a reaper run, and from every stored report item (dynalite).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapReport, ReapRequest } from '../../lib/agent-contract.js';
import type { AnchorOptional } from '../../lib/agent-client.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { staticMasterKey } from '../../functions/reaper/master-key.js';
import { createReaper } from '../../functions/reaper/run.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { sha256Hex, sign } from '../../lib/signing.js';
import { anchored, capturingLogger, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { existingIds, makeContainer, makeContainers, stateOf } from '../helpers/containers.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { startEngine, type Engine } from '../helpers/engine.js';
import { closedPortUrl } from '../helpers/net.js';

const MASTER = randomBytes(32).toString('hex');
const OTHER_MASTER = randomBytes(32).toString('hex');
const RUN_LABEL = `agent-security-${randomUUID().slice(0, 8)}`;

let engine: Engine;
let agent: TestAgent;
/** Holds a key from another master: every command to it is refused (and logged). */
let stranger: TestAgent;
let dynamo: TestDynamo;
let store: Store;
/** Every signature header value this file sent. */
const sentSignatures: string[] = [];
/** Every Docker id this file created (64 hex digits that are not secrets). */
const madeIds = new Set<string>();
const made = <T extends { id: string }>(c: T): T => {
  madeIds.add(c.id);
  return c;
};

beforeAll(async () => {
  engine = await startEngine();
  agent = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'sec-a', masterKey: MASTER });
  stranger = await startTestAgent({ dockerHost: engine.dockerHost, hostId: 'sec-w', masterKey: OTHER_MASTER });
  dynamo = await startDynalite({ prefix: 'sec-' });
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
});

afterAll(async () => {
  await agent?.close();
  await stranger?.close();
  await dynamo?.close();
  await engine?.stop();
});

function reapRequest(over: Partial<ReapRequest> = {}): AnchorOptional<ReapRequest> {
  return { runId: randomUUID(), hostId: agent.hostId, tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 0, maxReap: 100, dryRun: false, ...over };
}

/** Sends exactly these headers and body (a captured request, replayed or tampered with). */
async function send(path: string, method: string, headers: Record<string, string>, body?: string) {
  sentSignatures.push(headers['x-reaper-signature'] ?? '');
  const response = await fetch(agent.url + path, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as unknown };
}

function signedHeaders(method: string, path: string, body: string, timestamp = Math.floor(Date.now() / 1000)) {
  return {
    'content-type': 'application/json',
    'x-reaper-timestamp': String(timestamp),
    'x-reaper-signature': sign(agent.hostKey, { timestamp, method, path, body }),
    ...(body ? { 'x-reaper-content-sha256': sha256Hex(body) } : {}),
  };
}

/** Tracks every labelled container on the engine except those whose id starts with `prefix`. */
async function trackAllBut(prefix: string) {
  const list = await agent.client.containers();
  return list.containers.filter((c) => !c.clawboxId.startsWith(prefix)).map((c) => ({ id: c.clawboxId, dockerId: c.dockerId }));
}

describe('replay and signature reuse', () => {
  it('a captured signed reap replayed byte for byte inside the window returns the stored report and reaps nothing more', async () => {
    const t = `replay-${randomUUID().slice(0, 6)}`;
    const first = made(await makeContainer(engine.docker, { clawboxId: `${t}-first`, kind: 'created', runLabel: RUN_LABEL }));
    await sleep(2_100);
    const body = JSON.stringify(await anchored(agent, reapRequest({ tracked: await trackAllBut(t) })));
    const headers = signedHeaders('POST', '/v1/reap', body);

    const original = await send('/v1/reap', 'POST', headers, body);
    expect(original.status).toBe(200);
    expect((original.json as ReapReport).counts.removed).toBe(1);
    expect(await stateOf(engine.docker, first.id)).toBeUndefined();

    // A new orphan appears; the very same bytes are sent again a moment later.
    const second = made(await makeContainer(engine.docker, { clawboxId: `${t}-second`, kind: 'created', runLabel: RUN_LABEL }));
    await sleep(2_100);
    const replay = await send('/v1/reap', 'POST', headers, body);
    expect(replay.status).toBe(200);
    expect(replay.headers.get('x-reaper-replayed')).toBe('true');
    expect(replay.json).toEqual(original.json);
    expect(await stateOf(engine.docker, second.id)).toBe('created');
    await engine.docker.getContainer(second.id).remove({ force: true });
  });

  it('refuses the old signature with a changed body, another path, another method, or a shifted timestamp (401) and touches nothing', async () => {
    const t = `reuse-${randomUUID().slice(0, 6)}`;
    const victim = made(await makeContainer(engine.docker, { clawboxId: `${t}-victim`, kind: 'created', runLabel: RUN_LABEL }));
    await sleep(2_100);
    const tracked = await trackAllBut(t);
    // A captured, valid, harmless command (a dry run) ...
    const body = JSON.stringify(await anchored(agent, reapRequest({ tracked, dryRun: true })));
    const headers = signedHeaders('POST', '/v1/reap', body);
    // ... whose signature is then used for a destructive body, ...
    const destructive = JSON.stringify({ ...JSON.parse(body), dryRun: false, runId: randomUUID() });
    // (with the captured content hash, the signature holds but the body is not the one it covers;
    // with the destructive body's own hash, the signature fails)
    expect(await send('/v1/reap', 'POST', headers, destructive)).toMatchObject({ status: 400, json: { error: { code: 'content_hash_mismatch' } } });
    expect(await send('/v1/reap', 'POST', { ...headers, 'x-reaper-content-sha256': sha256Hex(destructive) }, destructive)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    const { 'x-reaper-content-sha256': _hash, ...withoutHash } = headers;
    expect(await send('/v1/reap', 'POST', withoutHash, destructive)).toMatchObject({ status: 401, json: { error: { code: 'missing_content_hash' } } });
    // ... the same body with the query string changed, ...
    expect(await send('/v1/reap?dryRun=false', 'POST', headers, body)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    // ... other paths and methods, ...
    expect(await send('/v1/containers', 'GET', headers)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    expect(await send('/metrics', 'GET', headers)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    // ... and another timestamp with the same signature.
    const shifted = { ...headers, 'x-reaper-timestamp': String(Number(headers['x-reaper-timestamp']) - 1) };
    expect(await send('/v1/reap', 'POST', shifted, body)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    // A signature from a GET reused for the reap.
    const getHeaders = signedHeaders('GET', '/v1/containers', '');
    expect(await send('/v1/reap', 'POST', { ...getHeaders, 'x-reaper-content-sha256': sha256Hex(body) }, body)).toMatchObject({ status: 401, json: { error: { code: 'bad_signature' } } });
    expect(await send('/v1/reap', 'POST', getHeaders, body)).toMatchObject({ status: 401, json: { error: { code: 'missing_content_hash' } } });
    // Signatures of every wrong length, and the right length but wrong, are refused.
    const good = headers['x-reaper-signature'];
    for (const wrong of ['', 'v1', 'v1=', good.slice(0, 10), good.slice(0, -1), `${good}0`, `${good}${good}`, `v1=${'0'.repeat(64)}`]) {
      expect(await send('/v1/reap', 'POST', { ...headers, 'x-reaper-signature': wrong }, body), `signature ${JSON.stringify(wrong)}`).toMatchObject({ status: 401 });
    }

    expect(await stateOf(engine.docker, victim.id)).toBe('created');
    // The original, untampered, is still accepted (a dry run: nothing is removed).
    const accepted = await send('/v1/reap', 'POST', headers, body);
    expect(accepted.status).toBe(200);
    expect((accepted.json as ReapReport).status).toBe('dry-run');
    expect(await stateOf(engine.docker, victim.id)).toBe('created');
    await engine.docker.getContainer(victim.id).remove({ force: true });
  });
});

describe('S9: secrets never reach logs or reports', () => {
  it('a reaper run (ok, refused and unreachable hosts) and refused requests leave no key or signature in any log line or stored report', async () => {
    const reaperLog = capturingLogger('debug');
    const t = `s9-${randomUUID().slice(0, 6)}`;
    const orphans = await makeContainers(engine.docker, [
      { clawboxId: `${t}-o1`, kind: 'created', runLabel: RUN_LABEL },
      { clawboxId: `${t}-o2`, kind: 'exited', runLabel: RUN_LABEL },
    ]);
    orphans.forEach(made);
    await store.hosts.put(agent.hostId, { agentUrl: agent.url, enabled: true });
    await store.hosts.put(stranger.hostId, { agentUrl: stranger.url, enabled: true });
    await store.hosts.put('sec-down', { agentUrl: await closedPortUrl(), enabled: true });
    for (const c of await trackAllBut(t)) await store.tracked.track(agent.hostId, c.id, { dockerId: c.dockerId });
    await sleep(2_100);

    const reaper = createReaper({
      store,
      masterKey: staticMasterKey(MASTER),
      logger: reaperLog.logger,
      settings: { ...DEFAULT_REAP_SETTINGS, quarantineSeconds: 0, maxReapPercent: 100, graceSeconds: 0, stopTimeoutSeconds: 0, agentAttempts: 2, reportMarginMs: 1000 },
    });
    const result = await reaper.run({ trigger: 'api', deadlineAt: Date.now() + 60_000 });
    const statuses = Object.fromEntries(result.hosts.map((h) => [h.hostId, h.status]));
    expect(statuses).toEqual({ 'sec-a': 'ok', 'sec-w': 'refused', 'sec-down': 'unreachable' });
    const ids = await existingIds(engine.docker);
    for (const c of orphans) expect(ids.has(c.id)).toBe(false);

    // Refusals the agents log too: a wrong key, a stale timestamp, a mangled signature.
    const body = JSON.stringify(reapRequest());
    await send('/v1/reap', 'POST', { ...signedHeaders('POST', '/v1/reap', body), 'x-reaper-signature': sign(stranger.hostKey, { timestamp: Math.floor(Date.now() / 1000), method: 'POST', path: '/v1/reap', body }) }, body);
    await send('/v1/reap', 'POST', signedHeaders('POST', '/v1/reap', body, Math.floor(Date.now() / 1000) - 1000), body);

    const reports = await dynamo.client.send(new ScanCommand({ TableName: dynamo.tables.reports, ConsistentRead: true }));
    const stored = JSON.stringify(reports.Items ?? []);
    expect(reports.Items?.length).toBeGreaterThanOrEqual(3);

    const secrets = [MASTER, OTHER_MASTER, agent.hostKey.toString('hex'), stranger.hostKey.toString('hex'), ...sentSignatures.filter((s) => s.length > 10)];
    const haystacks: [string, string][] = [
      ['agent log', agent.logLines.join('\n')],
      ['stranger agent log', stranger.logLines.join('\n')],
      ['reaper log', reaperLog.lines.join('\n')],
      ['stored reports', stored],
    ];
    expect(reaperLog.lines.length).toBeGreaterThan(0);
    for (const [name, text] of haystacks) {
      for (const secret of secrets) {
        expect(text.includes(secret), `${name} contains a secret (${secret.slice(0, 6)}…)`).toBe(false);
        expect(text.toLowerCase().includes(secret.toLowerCase().replace(/^v1=/, '')), `${name} contains a secret's hex`).toBe(false);
      }
      expect(text, name).not.toMatch(/v1=[0-9a-fA-F]{16,}/);
      // No 64-hex-digit string other than this file's Docker ids (not secrets) appears anywhere.
      for (const hex of text.match(/[0-9a-f]{64}/gi) ?? []) expect(madeIds.has(hex), `${name}: unexplained 64-hex string ${hex.slice(0, 8)}…`).toBe(true);
    }
  });
});
