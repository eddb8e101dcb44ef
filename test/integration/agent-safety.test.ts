/**
 * S1–S7 against real engines through a real agent over HTTP: the same suite on a private Docker
 * engine and on a private Podman service (its Docker-compatible API), the two side by side. Every
 * test creates its own containers with its own label values and checks the engine's state
 * afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReapReport, ReapRequest } from '../../lib/agent-contract.js';
import type { AnchorOptional } from '../../lib/agent-client.js';
import type { DockerPort } from '../../agent/docker.js';
import { AgentCallError, createAgentClient } from '../../lib/agent-client.js';
import { anchored, rawRequest, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { existingIds, LABEL, makeContainer, makeContainers, stateOf, type MadeContainer } from '../helpers/containers.js';
import { TEST_IMAGE, type Engine } from '../helpers/engine.js';
import { TEST_ENGINES, type EngineKind } from '../helpers/podman.js';

const fileStartedAt = Date.now();


// The engines run side by side (each suite's own tests one after another): the suite's time is the slower engine's, not the sum.
for (const [kind, start] of TEST_ENGINES) {
  describe.concurrent(kind, () => {
    describe.sequential(`S1–S7 on ${kind}`, () => safetySuite(kind, start));
  });
}

function safetySuite(kind: EngineKind, start: () => Promise<Engine>): void {
  let engine: Engine;
  let agent: TestAgent;
  /** Fault injection around the real Docker port: ids to fail or to remove behind the agent's back. */
  const faults = { failRemove: new Set<string>(), failKill: new Set<string>(), vanishBeforeRemove: new Set<string>(), calls: 0 };


  beforeAll(async () => {
    engine = await start();
    agent = await startTestAgent({
      dockerHost: engine.dockerHost,
      wrapDocker: (real): DockerPort => ({
        ...real,
        version: () => real.version(),
        listLabelled: () => {
          faults.calls++;
          return real.listLabelled();
        },
        kill: (id, signal) => {
          faults.calls++;
          if (faults.failKill.has(id)) return Promise.reject(new Error('injected kill failure'));
          return real.kill(id, signal);
        },
        remove: async (id) => {
          faults.calls++;
          if (faults.failRemove.has(id)) throw new Error('injected engine failure');
          // A real removal by someone else just before ours: the engine then answers 404.
          if (faults.vanishBeforeRemove.has(id)) await engine.docker.getContainer(id).remove({ force: true });
          return real.remove(id);
        },
      }),
    });
  });

  afterAll(async () => {
    await agent?.close();
    await engine?.stop();
  });

  function request(over: Partial<ReapRequest> = {}): AnchorOptional<ReapRequest> {
    return {
      runId: randomUUID(),
      hostId: agent.hostId,
      tracked: [],
      snapshotAt: new Date().toISOString(),
      graceSeconds: 0,
      stopTimeoutSeconds: 1,
      maxReap: 100,
      dryRun: false,
      ...over,
    };
  }

  /** Waits until containers created before now are old enough for a grace of 0 (agent/orphans.ts). */
  const ageContainers = () => sleep(2_100);

  const tag = () => randomUUID().slice(0, 8);

  function actionOf(report: ReapReport, dockerId: string) {
    return report.containers.find((c) => c.dockerId === dockerId)?.action;
  }

  describe('S1/S2: the reap removes exactly the orphans', () => {
    it('removes untracked old labelled containers in every state and keeps everything else', async () => {
      const t = tag();
      const [keepRun, dupTracked, dupOther, orphRun, orphGraceful, orphCreated, orphExited, unlabelled, otherLabel] = await makeContainers(engine.docker, [
        { clawboxId: `${t}-keep` },
        { clawboxId: `${t}-dup` },
        { clawboxId: `${t}-dup` },
        { clawboxId: `${t}-orph-run`, kind: 'running' },
        { clawboxId: `${t}-orph-graceful`, kind: 'graceful' },
        { clawboxId: `${t}-orph-created`, kind: 'created' },
        { clawboxId: `${t}-orph-exited`, kind: 'exited' },
        { clawboxId: undefined },
        { clawboxId: `${t}-other`, label: 'other.container_id', extraLabels: {} },
      ]) as MadeContainer[];
      await ageContainers();
      const snapshotAt = new Date().toISOString();
      const young = await makeContainer(engine.docker, { clawboxId: `${t}-young` });

      // Other tests' leftovers on this engine are tracked here so only this test's containers count.
      const before = await agent.client.containers();
      const foreign = before.containers.filter((c) => !c.clawboxId.startsWith(t)).map((c) => ({ id: c.clawboxId, dockerId: c.dockerId }));

      const report = await agent.client.reap(
        request({ snapshotAt, tracked: [...foreign, { id: `${t}-keep` }, { id: `${t}-dup`, dockerId: dupTracked!.id }] }),
      );

      const orphans = [dupOther!, orphRun!, orphGraceful!, orphCreated!, orphExited!];
      const kept = [keepRun!, dupTracked!, young, unlabelled!, otherLabel!];
      const ids = await existingIds(engine.docker);
      for (const c of orphans) expect(ids.has(c.id), `orphan ${c.clawboxId} removed`).toBe(false);
      for (const c of kept) expect(ids.has(c.id), `kept ${String(c.clawboxId)}`).toBe(true);
      expect(await stateOf(engine.docker, keepRun!.id)).toBe('running');
      expect(await stateOf(engine.docker, young.id)).toBe('running');

      expect(report.status).toBe('ok');
      expect(report.counts).toEqual({
        labelled: foreign.length + 8,
        tracked: foreign.length + 2,
        orphans: 5,
        young: 1,
        stopped: 3,
        removed: 5,
        vanished: 0,
        failed: 0,
      });
      for (const c of orphans) expect(actionOf(report, c.id)).toBe('removed');
      expect(actionOf(report, young.id)).toBe('skipped-young');
      // The tracked ones are not listed; unlabelled and foreign-label ones never reach the agent.
      for (const c of [keepRun!, dupTracked!, unlabelled!, otherLabel!]) expect(actionOf(report, c.id)).toBeUndefined();
      await engine.docker.getContainer(young.id).remove({ force: true });
    });

    it('lists only labelled containers', async () => {
      const t = tag();
      const [labelled, unlabelled] = await makeContainers(engine.docker, [{ clawboxId: `${t}-l` }, { clawboxId: undefined }]);
      const list = await agent.client.containers();
      const ids = list.containers.map((c) => c.dockerId);
      expect(ids).toContain(labelled!.id);
      expect(ids).not.toContain(unlabelled!.id);
      const entry = list.containers.find((c) => c.dockerId === labelled!.id)!;
      expect(entry).toMatchObject({ clawboxId: `${t}-l`, state: 'running', image: expect.stringContaining('busybox') });
      await Promise.all([labelled!, unlabelled!].map((c) => engine.docker.getContainer(c.id).remove({ force: true })));
    });

    it('does not let an agent whose clock runs behind shrink the grace', async () => {
      const t = tag();
      const c = await makeContainer(engine.docker, { clawboxId: `${t}-skew` });
      await ageContainers();
      // The control plane's clock is 100 s ahead of this agent's: seen from the control plane the
      // container is ~2 s old, inside a 60 s grace, though the agent's own clock would call it 102 s old.
      const ahead = Date.now() + 100_000;
      const client = createAgentClient({ baseUrl: agent.url, hostKey: agent.hostKey, now: () => ahead });
      const report = await client.reap(request({ snapshotAt: new Date(ahead).toISOString(), graceSeconds: 60, tracked: await trackAllBut(t) }));
      expect(actionOf(report, c.id)).toBe('skipped-young');
      expect(await stateOf(engine.docker, c.id)).toBe('running');
      await engine.docker.getContainer(c.id).remove({ force: true });
    });
  });

  /** Tracks every labelled container on the engine except this test's (prefix t). */
  async function trackAllBut(t: string) {
    const list = await agent.client.containers();
    return list.containers.filter((c) => !c.clawboxId.startsWith(t)).map((c) => ({ id: c.clawboxId, dockerId: c.dockerId }));
  }

  describe('S4 and dry run: nothing is touched', () => {
    it('caps: more orphans than maxReap touches nothing and says so loudly', async () => {
      const t = tag();
      const made = await makeContainers(engine.docker, [1, 2, 3].map((i) => ({ clawboxId: `${t}-${i}` })));
      await ageContainers();
      const report = await agent.client.reap(request({ maxReap: 2, tracked: await trackAllBut(t) }));
      expect(report.status).toBe('capped');
      expect(report.counts).toMatchObject({ orphans: 3, removed: 0, stopped: 0 });
      expect(report.containers.map((c) => c.action)).toEqual(['would-remove', 'would-remove', 'would-remove']);
      for (const c of made) expect(await stateOf(engine.docker, c.id)).toBe('running');
      expect(agent.logLines.some((l) => l.includes('REAP CAPPED') && l.includes(report.runId))).toBe(true);

      // Only an explicit force (maxReap null) lifts the cap.
      const forced = await agent.client.reap(request({ maxReap: null, tracked: await trackAllBut(t) }));
      expect(forced.status).toBe('ok');
      const ids = await existingIds(engine.docker);
      for (const c of made) expect(ids.has(c.id)).toBe(false);
    });

    it('dry run reports would-remove and touches nothing', async () => {
      const t = tag();
      const [c] = await makeContainers(engine.docker, [{ clawboxId: `${t}-dry`, kind: 'exited' }]);
      await ageContainers();
      const report = await agent.client.reap(request({ dryRun: true, tracked: await trackAllBut(t) }));
      expect(report.status).toBe('dry-run');
      expect(report.dryRun).toBe(true);
      expect(actionOf(report, c!.id)).toBe('would-remove');
      expect(await stateOf(engine.docker, c!.id)).toBe('exited');
      await engine.docker.getContainer(c!.id).remove({ force: true });
    });
  });

  describe('S6: one reap at a time, and a runId reaps once', () => {
    it('replays the stored report for a repeated runId without acting again', async () => {
      const t = tag();
      const [first] = await makeContainers(engine.docker, [{ clawboxId: `${t}-first` }]);
      await ageContainers();
      const req = await anchored(agent, request({ tracked: await trackAllBut(t) }));
      const report = await agent.client.reap(req);
      expect(report.counts.removed).toBe(1);
      expect(await stateOf(engine.docker, first!.id)).toBeUndefined();

      const second = await makeContainer(engine.docker, { clawboxId: `${t}-second` });
      await ageContainers();
      const replay = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body: JSON.stringify(req) });
      expect(replay.status).toBe(200);
      expect(replay.headers.get('x-reaper-replayed')).toBe('true');
      expect(replay.json).toEqual(report);
      expect(await stateOf(engine.docker, second.id)).toBe('running');
      await engine.docker.getContainer(second.id).remove({ force: true });
    });

    it('refuses a concurrent reap with 409 and touches nothing for it', async () => {
      const t = tag();
      const [slow] = await makeContainers(engine.docker, [{ clawboxId: `${t}-slow`, kind: 'running' }]);
      await ageContainers();
      const tracked = await trackAllBut(t);
      // The first reap waits out a 3 s stop timeout on a container that ignores SIGTERM.
      const firstReq = request({ tracked, stopTimeoutSeconds: 3 });
      const first = agent.client.reap(firstReq);
      await sleep(300);
      const secondReq = request({ tracked, dryRun: true });
      const second = await agent.client.reap(secondReq).catch((error: unknown) => error);
      expect(second).toBeInstanceOf(AgentCallError);
      expect((second as AgentCallError).httpStatus).toBe(409);
      expect((second as AgentCallError).code).toBe('reap_in_progress');
      // A retry of the run in flight joins it instead of being refused.
      const [a, b] = await Promise.all([first, agent.client.reap(firstReq)]);
      expect(b).toEqual(a);
      expect(a.counts).toMatchObject({ removed: 1, stopped: 1 });
      expect(a.durationMs).toBeGreaterThanOrEqual(3_000);
      expect(await stateOf(engine.docker, slow!.id)).toBeUndefined();
    });
  });

  describe('S7: removal outcomes', () => {
    it('removes anonymous volumes with the container', async () => {
      const t = tag();
      const created = await engine.docker.createContainer({
        Image: 'clawbox-test-busybox:latest',
        Cmd: ['sleep', '3600'],
        Labels: { 'clawbox.container_id': `${t}-vol` },
        Volumes: { '/data': {} },
        HostConfig: { NetworkMode: 'none' },
      });
      await created.start();
      const volume = (await created.inspect()).Mounts.find((m) => m.Destination === '/data')!.Name!;
      await ageContainers();
      await agent.client.reap(request({ tracked: await trackAllBut(t) }));
      const volumes = (await engine.docker.listVolumes()).Volumes.map((v) => v.Name);
      expect(volumes).not.toContain(volume);
    });

    it('treats a container removed by someone else as vanished, and one failure as partial while the others go on', async () => {
      const t = tag();
      const [gone, broken, brokenRunning, ok1, ok2] = await makeContainers(engine.docker, [
        { clawboxId: `${t}-gone`, kind: 'exited' },
        { clawboxId: `${t}-broken`, kind: 'exited' },
        { clawboxId: `${t}-broken-running`, kind: 'running' },
        { clawboxId: `${t}-ok1`, kind: 'created' },
        { clawboxId: `${t}-ok2`, kind: 'running' },
      ]);
      await ageContainers();
      faults.vanishBeforeRemove.add(gone!.id);
      faults.failRemove.add(broken!.id);
      faults.failRemove.add(brokenRunning!.id);
      try {
        const report = await agent.client.reap(request({ tracked: await trackAllBut(t) }));
        expect(report.status).toBe('partial');
        expect(report.counts).toMatchObject({ orphans: 5, removed: 2, vanished: 1, failed: 2, stopped: 2 });
        expect(actionOf(report, gone!.id)).toBe('vanished');
        expect(actionOf(report, broken!.id)).toBe('failed');
        expect(report.containers.find((c) => c.dockerId === broken!.id)?.error).toContain('injected engine failure');
        const ids = await existingIds(engine.docker);
        expect(ids.has(ok1!.id)).toBe(false);
        expect(ids.has(ok2!.id)).toBe(false);
        expect(ids.has(broken!.id)).toBe(true);
        // A running one whose removal failed is not left running: killed, for the next run to remove.
        expect(actionOf(report, brokenRunning!.id)).toBe('failed');
        expect(await stateOf(engine.docker, brokenRunning!.id)).toBe('exited');
      } finally {
        faults.vanishBeforeRemove.clear();
        faults.failRemove.clear();
        await Promise.all([broken!, brokenRunning!].map((c) => engine.docker.getContainer(c.id).remove({ force: true })));
      }
    });
  });

  describe('stopping: one wait, each its own signal; paused orphans; dependents', () => {
    /** A container that writes `name` into the marks folder and exits when it gets `signal` (PID 1 ignores the others). */
    const markOn = (t: string, name: string, signal: string, marks: string) =>
      engine.docker.createContainer({
        Image: TEST_IMAGE,
        Cmd: ['sh', '-c', `trap "echo ${name} > /marks/${name}; exit 0" ${signal}; while true; do sleep 0.05; done`],
        ...(signal === 'TERM' ? {} : { StopSignal: `SIG${signal}` }),
        Labels: { [LABEL]: `${t}-${name}` },
        HostConfig: { NetworkMode: 'none', Binds: [`${marks}:/marks`] },
      });

    it('sends every running orphan its own stop signal (a paused one thawed first) and removes it', async () => {
      const t = tag();
      const marks = mkdtempSync(join(tmpdir(), 'crs-marks-'));
      try {
        const made = await Promise.all([markOn(t, 'usr1', 'USR1', marks), markOn(t, 'term', 'TERM', marks), markOn(t, 'paused', 'TERM', marks)]);
        for (const c of made) await c.start();
        await made[2]!.pause();
        expect(await stateOf(engine.docker, made[2]!.id)).toBe('paused');
        await ageContainers();
        // A long timeout: each exits on its own signal well before it (the marks say which signal it got).
        const report = await agent.client.reap(request({ tracked: await trackAllBut(t), stopTimeoutSeconds: 30 }));
        expect(report.status).toBe('ok');
        expect(report.counts).toMatchObject({ orphans: 3, stopped: 3, removed: 3, failed: 0 });
        expect(readdirSync(marks).sort()).toEqual(['paused', 'term', 'usr1']);
        const ids = await existingIds(engine.docker);
        for (const c of made) expect(ids.has(c.id)).toBe(false);
      } finally {
        rmSync(marks, { recursive: true, force: true });
      }
    });

    it('removes a running orphan whose stop signal the engine refused, once its timeout has passed', async () => {
      const t = tag();
      const [refused, graceful] = await makeContainers(engine.docker, [
        { clawboxId: `${t}-refused`, kind: 'graceful' },
        { clawboxId: `${t}-graceful`, kind: 'graceful' },
      ]);
      await ageContainers();
      faults.failKill.add(refused!.id);
      try {
        const report = await agent.client.reap(request({ tracked: await trackAllBut(t), stopTimeoutSeconds: 2 }));
        expect(report.status).toBe('ok');
        expect(report.counts).toMatchObject({ orphans: 2, stopped: 2, removed: 2, failed: 0 });
        // The refused one was never signalled, so it ran until its timeout and was killed by its forced removal.
        expect(report.durationMs).toBeGreaterThanOrEqual(2_000);
        const ids = await existingIds(engine.docker);
        expect(ids.has(refused!.id)).toBe(false);
        expect(ids.has(graceful!.id)).toBe(false);
      } finally {
        faults.failKill.clear();
      }
    });

    it('never touches an unlabelled container that shares an orphan’s namespaces', async () => {
      const t = tag();
      const orphan = await makeContainer(engine.docker, { clawboxId: `${t}-ns` });
      const dependent = await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sleep', '3600'], name: `dep-${t}`, HostConfig: { NetworkMode: `container:${orphan.id}` } });
      await dependent.start();
      await ageContainers();
      try {
        const report = await agent.client.reap(request({ tracked: await trackAllBut(t) }));
        expect(await stateOf(engine.docker, dependent.id)).toBe('running');
        const entry = report.containers.find((c) => c.dockerId === orphan.id);
        if (kind === 'podman') {
          // Podman refuses while the dependent exists: reported with who blocks it, every run, and the dependent left alone.
          expect(report.status).toBe('partial');
          expect(entry?.action).toBe('failed');
          expect(entry?.error).toContain(dependent.id.slice(0, 12));
          expect(entry?.error).toContain(`"dep-${t}"`);
          expect(entry?.error).toContain('unlabelled: never touched by the agent');
          expect(await stateOf(engine.docker, orphan.id)).toBeDefined();
        } else {
          // Docker removes it; the dependent keeps the namespace it holds.
          expect(report.status).toBe('ok');
          expect(entry?.action).toBe('removed');
          expect(await stateOf(engine.docker, orphan.id)).toBeUndefined();
        }
      } finally {
        await dependent.remove({ force: true });
        await engine.docker.getContainer(orphan.id).remove({ force: true }).catch(() => undefined);
      }
    });

    it('removes an orphan together with a labelled orphan that shares its namespaces', async () => {
      const t = tag();
      const host = await makeContainer(engine.docker, { clawboxId: `${t}-host` });
      const dependent = await engine.docker.createContainer({
        Image: TEST_IMAGE,
        Cmd: ['sleep', '3600'],
        Labels: { [LABEL]: `${t}-dep` },
        HostConfig: { NetworkMode: `container:${host.id}` },
      });
      await dependent.start();
      await ageContainers();
      const report = await agent.client.reap(request({ tracked: await trackAllBut(t) }));
      expect(report.status).toBe('ok');
      expect(report.counts).toMatchObject({ orphans: 2, removed: 2, failed: 0 });
      const ids = await existingIds(engine.docker);
      expect(ids.has(host.id)).toBe(false);
      expect(ids.has(dependent.id)).toBe(false);
    });
  });

  describe('refusals: every caller mistake is a 4xx JSON error and touches nothing', () => {
    let victim: MadeContainer;
    let tracked: { id: string; dockerId?: string }[];
    beforeAll(async () => {
      victim = await makeContainer(engine.docker, { clawboxId: `victim-${tag()}` });
      await ageContainers();
      tracked = await trackAllBut('victim-');
    });

    it.each([
      ['unsigned', () => ({ unsigned: true }), 401, 'unsigned'],
      ['wrong key', () => ({ key: Buffer.alloc(32, 7) }), 401, 'bad_signature'],
      ['stale timestamp', () => ({ timestamp: Math.floor(Date.now() / 1000) - 301 }), 401, 'stale_timestamp'],
      ['timestamp from the future', () => ({ timestamp: Math.floor(Date.now() / 1000) + 400 }), 401, 'stale_timestamp'],
      ['body changed after signing', (body: string) => ({ signAs: { body: body.replace('"dryRun":false', '"dryRun":true') } }), 401, 'bad_signature'],
      ['signature made for another path', () => ({ signAs: { path: '/v1/containers', method: 'GET', body: '' } }), 401, 'bad_signature'],
      ['wrong content type', () => ({ contentType: 'text/plain' }), 415, 'unsupported_media_type'],
      ['no content type', () => ({ contentType: null }), 415, 'unsupported_media_type'],
    ])('%s', async (_name, make, status, code) => {
      const body = JSON.stringify(await anchored(agent, request({ tracked })));
      const options = (make as (b: string) => object)(body);
      const response = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body, ...options });
      expect(response.status).toBe(status);
      expect(response.json).toMatchObject({ error: { code } });
      expect(await stateOf(engine.docker, victim.id)).toBe('running');
    });

    it.each([
      ['invalid JSON', '{"runId":', 'invalid_json'],
      ['an unknown field', (b: ReapRequest) => JSON.stringify({ ...b, force: true }), 'validation_failed'],
      ['a missing field', (b: ReapRequest) => JSON.stringify({ ...b, dryRun: undefined }), 'validation_failed'],
      ['a wrong type', (b: ReapRequest) => JSON.stringify({ ...b, graceSeconds: '0' }), 'validation_failed'],
      ['a negative grace', (b: ReapRequest) => JSON.stringify({ ...b, graceSeconds: -1 }), 'validation_failed'],
      ['an id with a path trick', (b: ReapRequest) => JSON.stringify({ ...b, tracked: [{ id: '../etc' }] }), 'validation_failed'],
      ['a snapshot in the future', (b: ReapRequest) => JSON.stringify({ ...b, snapshotAt: new Date(Date.now() + 60_000).toISOString() }), 'snapshot_in_future'],
      ['an array body', '[]', 'validation_failed'],
    ])('a body with %s is a 400', async (_name, make, code) => {
      const base = await anchored(agent, request({ tracked }));
      const body = typeof make === 'string' ? make : make(base);
      const response = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body });
      expect(response.status).toBe(400);
      expect(response.json).toMatchObject({ error: { code } });
      expect(await stateOf(engine.docker, victim.id)).toBe('running');
    });

    it('S6: a command signed before this agent process started is refused (a replay across a restart)', async () => {
      const before = faults.calls;
      const signedAt = Math.floor(fileStartedAt / 1000) - 5;
      const body = JSON.stringify(await anchored(agent, request({ tracked, snapshotAt: new Date(signedAt * 1000).toISOString() })));
      const response = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body, timestamp: signedAt });
      expect(response.status).toBe(409);
      expect(response.json).toMatchObject({ error: { code: 'signed_before_start' } });
      expect(faults.calls).toBe(before);
      expect(await stateOf(engine.docker, victim.id)).toBe('running');
    });

    it('S3: a command for another host is refused before Docker is asked anything', async () => {
      const before = faults.calls;
      const response = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body: JSON.stringify(await anchored(agent, request({ hostId: 'host-b' }))) });
      expect(response.status).toBe(403);
      expect(response.json).toMatchObject({ error: { code: 'host_mismatch' } });
      expect(faults.calls).toBe(before);
      expect(await stateOf(engine.docker, victim.id)).toBe('running');
    });

    it('refuses a body over the limit with 413', async () => {
      const huge = JSON.stringify({ ...(await anchored(agent, request())), tracked: Array.from({ length: 400_000 }, (_, i) => ({ id: `x${i}-${'y'.repeat(40)}` })) });
      const response = await rawRequest(agent, { method: 'POST', path: '/v1/reap', body: huge });
      expect(response.status).toBe(413);
      expect(response.json).toMatchObject({ error: { code: 'payload_too_large' } });
    });

    it('answers unknown routes and methods with JSON 404s, and needs a signature for the inventory', async () => {
      expect(await rawRequest(agent, { path: '/nope' })).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
      expect(await rawRequest(agent, { path: '/v1/reap' })).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
      expect(await rawRequest(agent, { path: '/v1/containers', unsigned: true })).toMatchObject({ status: 401 });
      expect(await rawRequest(agent, { path: '/metrics', unsigned: true })).toMatchObject({ status: 401 });
      expect(await stateOf(engine.docker, victim.id)).toBe('running');
    });
  });

  describe('health, metrics and logs', () => {
    it('reports the engine version on /healthz without a signature', async () => {
      const response = await fetch(`${agent.url}/healthz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ ok: true, docker: { reachable: true, version: expect.stringMatching(/^\d+\./) } });
    });

    it('serves Prometheus metrics to a signed caller', async () => {
      const response = await rawRequest(agent, { path: '/metrics' });
      expect(response.status).toBe(200);
      expect(String(response.json)).toMatch(/clawbox_reaper_agent_reaps_total\{status="ok"\} [1-9]/);
      expect(String(response.json)).toMatch(/clawbox_reaper_agent_containers_total\{outcome="removed"\} [1-9]/);
    });

    it('S9: never logs the key or a signature, and logs one line per reap with counts', async () => {
      const log = agent.logLines.join('\n');
      expect(log).not.toContain(agent.hostKey.toString('hex'));
      expect(log).not.toMatch(/v1=[0-9a-f]{64}/);
      const reapLines = agent.logLines.map((l) => JSON.parse(l) as { msg: string; counts?: unknown }).filter((l) => l.msg === 'reap finished');
      expect(reapLines.length).toBeGreaterThan(3);
      expect(reapLines[0]!.counts).toMatchObject({ labelled: expect.any(Number) });
    });
  });
}
