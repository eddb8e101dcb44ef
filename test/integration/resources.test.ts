/**
 * Labelled networks and volumes (SPEC §9) on real engines (a private Docker engine, and a private
 * Podman service when Podman is installed) through a real agent: removed only when untracked, old
 * enough and unused by any container; dry run lists them; the guards count them; and an engine
 * that ignores the label filter (a proxy that drops `filters`, as old engines did) never turns a
 * reap into a mass deletion.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ReapReport, ReapRequest, ResourceReport } from '../../lib/agent-contract.js';
import type { AnchorOptional } from '../../lib/agent-client.js';
import { anchored, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { LABEL, TEST_RUN_LABEL, makeContainer } from '../helpers/containers.js';
import { startEngine, TEST_IMAGE, type Engine } from '../helpers/engine.js';
import { podmanInstalled, startPodman } from '../helpers/podman.js';

let engine: Engine;
let agent: TestAgent;

/** Each test starts on an engine without another test's networks, volumes or containers. */
async function cleanUp(): Promise<void> {
  const mine = { label: [`${TEST_RUN_LABEL}=resources`] };
  const containers = await engine.docker.listContainers({ all: true, filters: mine });
  await Promise.all(containers.map((c) => engine.docker.getContainer(c.Id).remove({ force: true, v: true })));
  const networks = await engine.docker.listNetworks({ filters: mine });
  await Promise.all(networks.map((n) => engine.docker.getNetwork(n.Id).remove()));
  const volumes = (await engine.docker.listVolumes({ filters: mine })).Volumes ?? [];
  await Promise.all(volumes.map((v) => engine.docker.getVolume(v.Name).remove()));
}

/** The suite below on one engine kind: its own engine and agent. */
function onEngine(kind: string, start: () => Promise<Engine>, body: () => void): void {
  describe(kind, () => {
    beforeAll(async () => {
      engine = await start();
      agent = await startTestAgent({ dockerHost: engine.dockerHost });
    });
    afterEach(cleanUp);
    afterAll(async () => {
      await agent?.close();
      await engine?.stop();
    });
    body();
  });
}

const tag = () => randomUUID().slice(0, 8);
/** Resources and containers created before now are old enough for a grace of 0 after this. */
const age = () => sleep(2_100);

function request(over: Partial<ReapRequest> = {}): AnchorOptional<ReapRequest> {
  return { runId: randomUUID(), hostId: agent.hostId, tracked: [], snapshotAt: new Date().toISOString(), graceSeconds: 0, stopTimeoutSeconds: 1, maxReap: 100, dryRun: false, ...over };
}

async function network(name: string, labels: Record<string, string> = {}): Promise<string> {
  const created = await engine.docker.createNetwork({ Name: name, Internal: true, Labels: { [TEST_RUN_LABEL]: 'resources', ...labels } });
  return created.id;
}

async function volume(name: string, labels: Record<string, string> = {}): Promise<void> {
  await engine.docker.createVolume({ Name: name, Labels: { [TEST_RUN_LABEL]: 'resources', ...labels } });
}

async function networkExists(name: string): Promise<boolean> {
  return (await engine.docker.listNetworks()).some((n) => n.Name === name);
}

async function volumeExists(name: string): Promise<boolean> {
  return ((await engine.docker.listVolumes()).Volumes ?? []).some((v) => v.Name === name);
}

/** A container (not labelled unless asked) that uses the given network and/or volume. */
async function user(options: { network?: string; volume?: string; clawboxId?: string; state: 'running' | 'exited' | 'created' }): Promise<string> {
  const container = await engine.docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: options.state === 'exited' ? ['true'] : ['sleep', '3600'],
    Labels: { [TEST_RUN_LABEL]: 'resources', ...(options.clawboxId ? { [LABEL]: options.clawboxId } : {}) },
    HostConfig: { NetworkMode: options.network ?? 'none', ...(options.volume ? { Binds: [`${options.volume}:/data`] } : {}) },
  });
  if (options.state !== 'created') await container.start();
  if (options.state === 'exited') await container.wait();
  return container.id;
}

function resource(report: ReapReport, kind: ResourceReport['kind'], name: string): ResourceReport | undefined {
  return report.resources?.find((r) => r.kind === kind && r.name === name);
}

const engines: Array<[string, () => Promise<Engine>]> = [['docker', startEngine], ...(podmanInstalled() ? [['podman', startPodman] as [string, () => Promise<Engine>]] : [])];

for (const [kind, start] of engines) onEngine(kind, start, () => describe('labelled networks and volumes', () => {
  it('removes only untracked, old, unused ones; dry run lists them first and touches nothing', async () => {
    const t = tag();
    const n = (s: string) => `${t}-${s}`;
    await network(n('net-orphan'), { [LABEL]: n('gone-1') });
    await network(n('net-tracked'), { [LABEL]: n('keep') });
    await network(n('net-stopped-user'), { [LABEL]: n('gone-2') });
    await network(n('net-created-user'), { [LABEL]: n('gone-3') });
    await network(n('net-unlabelled'));
    await network(n('net-other-label'), { 'other.label': n('gone-4') });
    await volume(n('vol-orphan'), { [LABEL]: n('gone-5') });
    await volume(n('vol-tracked'), { [LABEL]: n('keep') });
    await volume(n('vol-used-by-tracked'), { [LABEL]: n('gone-6') });
    await volume(n('vol-used-by-unlabelled'), { [LABEL]: n('gone-7') });
    await volume(n('vol-of-orphan'), { [LABEL]: n('orphan') });
    await volume(n('vol-unlabelled'));
    // Docker itself lets a network go while only stopped or created containers are attached to
    // it: the agent must see them as users.
    const stoppedUser = await user({ network: n('net-stopped-user'), state: 'exited' });
    const createdUser = await user({ network: n('net-created-user'), state: 'created' });
    const trackedUser = await user({ volume: n('vol-used-by-tracked'), clawboxId: n('keep'), state: 'running' });
    const unlabelledUser = await user({ volume: n('vol-used-by-unlabelled'), state: 'exited' });
    // An orphan container whose volume becomes unused once the reap removed it.
    const orphan = await user({ volume: n('vol-of-orphan'), clawboxId: n('orphan'), state: 'running' });
    await age();
    const tracked = [{ id: n('keep') }];
    // Created after the anchor: young whatever its label says.
    const command = await anchored(agent, request({ tracked }));
    await volume(n('vol-young'), { [LABEL]: n('gone-8') });
    await network(n('net-young'), { [LABEL]: n('gone-9') });

    const dry = await agent.client.reap({ ...command, runId: randomUUID(), dryRun: true });
    expect(dry.status).toBe('dry-run');
    expect(resource(dry, 'network', n('net-orphan'))?.action).toBe('would-remove');
    expect(resource(dry, 'volume', n('vol-orphan'))?.action).toBe('would-remove');
    // In a dry run the orphan stays, yet it would be removed: its volume would be free then.
    expect(resource(dry, 'volume', n('vol-of-orphan'))?.action).toBe('would-remove');
    expect(resource(dry, 'network', n('net-stopped-user'))?.action).toBe('in-use');
    expect(dry.counts).toMatchObject({ networksRemoved: 0, volumesRemoved: 0 });
    for (const name of ['net-orphan', 'net-tracked', 'net-stopped-user', 'net-young']) expect(await networkExists(n(name)), name).toBe(true);
    for (const name of ['vol-orphan', 'vol-of-orphan', 'vol-young']) expect(await volumeExists(n(name)), name).toBe(true);

    const report = await agent.client.reap(command);
    expect(report.status).toBe('ok');
    expect(report.containers.find((c) => c.dockerId === orphan)?.action).toBe('removed');
    expect(await networkExists(n('net-orphan'))).toBe(false);
    expect(await volumeExists(n('vol-orphan'))).toBe(false);
    expect(await volumeExists(n('vol-of-orphan')), 'the removed orphan container freed its volume').toBe(false);
    for (const name of ['net-tracked', 'net-stopped-user', 'net-created-user', 'net-unlabelled', 'net-other-label', 'net-young']) expect(await networkExists(n(name)), name).toBe(true);
    for (const name of ['vol-tracked', 'vol-used-by-tracked', 'vol-used-by-unlabelled', 'vol-unlabelled', 'vol-young']) expect(await volumeExists(n(name)), name).toBe(true);
    expect(report.counts).toMatchObject({ networksRemoved: 1, volumesRemoved: 2, resourcesFailed: 0, removed: 1 });

    expect(resource(report, 'network', n('net-orphan'))).toMatchObject({ action: 'removed', clawboxId: n('gone-1') });
    expect(resource(report, 'volume', n('vol-of-orphan'))?.action).toBe('removed');
    expect(resource(report, 'network', n('net-stopped-user'))?.action).toBe('in-use');
    expect(resource(report, 'network', n('net-created-user'))?.action).toBe('in-use');
    expect(resource(report, 'volume', n('vol-used-by-tracked'))?.action).toBe('in-use');
    expect(resource(report, 'volume', n('vol-used-by-unlabelled'))?.action).toBe('in-use');
    expect(resource(report, 'volume', n('vol-young'))?.action).toBe('skipped-young');
    expect(resource(report, 'network', n('net-young'))?.action).toBe('skipped-young');
    // Tracked, unlabelled and foreign-labelled ones are not listed at all.
    for (const name of ['net-tracked', 'net-unlabelled', 'net-other-label']) expect(resource(report, 'network', n(name)), name).toBeUndefined();
    expect(resource(report, 'volume', n('vol-tracked'))).toBeUndefined();

    // The users are untouched; the tracked one still runs.
    expect((await engine.docker.getContainer(trackedUser).inspect()).State.Running).toBe(true);
    for (const id of [stoppedUser, createdUser, unlabelledUser]) await expect(engine.docker.getContainer(id).inspect()).resolves.toBeDefined();
  });

  it('counts networks and volumes against the guards: a cap touches nothing of any kind', async () => {
    const t = tag();
    const orphan = await makeContainer(engine.docker, { clawboxId: `${t}-c`, kind: 'exited', runLabel: 'resources' });
    for (let i = 0; i < 3; i++) await volume(`${t}-v${i}`, { [LABEL]: `${t}-v${i}` });
    // Tracked ones keep the proportional guard quiet: only the count cap can fire.
    for (let i = 0; i < 10; i++) await volume(`${t}-tv${i}`, { [LABEL]: `${t}-tracked` });
    await age();
    const tracked = [{ id: `${t}-tracked` }];
    const capped = await agent.client.reap(await anchored(agent, request({ tracked, maxReap: 2 })));
    expect(capped.status).toBe('capped');
    expect(capped.cap).toMatchObject({ guard: 'max-reap', kind: 'volumes', limit: 2, orphans: 3 });
    for (let i = 0; i < 3; i++) expect(await volumeExists(`${t}-v${i}`)).toBe(true);
    expect(await engine.docker.getContainer(orphan.id).inspect()).toBeDefined();
    expect(resource(capped, 'volume', `${t}-v0`)?.action).toBe('would-remove');

    // The fleet budget too: more volume removals than the host's grant.
    const fleet = await agent.client.reap(await anchored(agent, request({ tracked, fleetBudget: 2 })));
    expect(fleet.cap).toMatchObject({ guard: 'fleet-max-reap', kind: 'volumes', removals: 3 });
    for (let i = 0; i < 3; i++) expect(await volumeExists(`${t}-v${i}`)).toBe(true);

    const done = await agent.client.reap(await anchored(agent, request({ tracked, maxReap: 3 })));
    expect(done.status).toBe('ok');
    for (let i = 0; i < 3; i++) expect(await volumeExists(`${t}-v${i}`)).toBe(false);
    for (let i = 0; i < 10; i++) expect(await volumeExists(`${t}-tv${i}`)).toBe(true);
    await expect(engine.docker.getContainer(orphan.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('the proportional guard judges each kind against its own labelled ones', async () => {
    const t = tag();
    // Another test's leftovers would change the share: this one counts networks, none of which are left.
    for (let i = 0; i < 4; i++) await network(`${t}-n${i}`, { [LABEL]: `${t}-n${i}` });
    await network(`${t}-tn`, { [LABEL]: `${t}-tracked` });
    await age();
    const report = await agent.client.reap(await anchored(agent, request({ tracked: [{ id: `${t}-tracked` }], maxReapPercent: { percent: 50, min: 3 } })));
    expect(report.status).toBe('capped');
    expect(report.cap).toMatchObject({ guard: 'max-reap-percent', kind: 'networks', orphans: 4 });
    for (let i = 0; i < 4; i++) expect(await networkExists(`${t}-n${i}`)).toBe(true);
    // Clean up for the other tests: a forced reap (no guards) with the tracked one kept.
    const forced = await agent.client.reap(await anchored(agent, request({ tracked: [{ id: `${t}-tracked` }], maxReap: null })));
    expect(forced.counts.networksRemoved).toBe(4);
    expect(await networkExists(`${t}-tn`)).toBe(true);
  });
}));

/**
 * An engine that ignores filters: a proxy in front of the real engine's socket that drops the
 * `filters` parameter from every request, so every list answers everything.
 */
async function filterlessProxy(target: string, dir: string): Promise<{ dockerHost: string; close(): Promise<void> }> {
  const socketPath = join(dir, 'nofilter.sock');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    url.searchParams.delete('filters');
    const upstream = httpRequest({ socketPath: target, path: url.pathname + url.search, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { dockerHost: `unix://${socketPath}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

onEngine('docker', startEngine, () => describe('an engine that ignores the label filter', () => {
  it('still acts only on labelled networks and volumes', async () => {
    const t = tag();
    const proxy = await filterlessProxy(engine.socketPath, engine.dir);
    const blind = await startTestAgent({ dockerHost: proxy.dockerHost, hostId: 'host-blind' });
    try {
      // The proxy really drops filters: a filtered list through it answers unlabelled ones too.
      await network(`${t}-plain-net`);
      await volume(`${t}-plain-vol`);
      await volume(`${t}-orphan-vol`, { [LABEL]: `${t}-o` });
      await age();
      const viaProxy = await new Docker({ socketPath: proxy.dockerHost.slice('unix://'.length) }).listVolumes({ filters: { label: [LABEL] } });
      expect((viaProxy.Volumes ?? []).some((v) => v.Name === `${t}-plain-vol`)).toBe(true);

      const report = await blind.client.reap(await anchored(blind, { ...request(), hostId: 'host-blind' }));
      expect(await volumeExists(`${t}-orphan-vol`)).toBe(false);
      expect(await volumeExists(`${t}-plain-vol`)).toBe(true);
      expect(await networkExists(`${t}-plain-net`)).toBe(true);
      expect(report.resources?.some((r) => r.name.startsWith(`${t}-plain`))).toBe(false);
      // Docker's own networks (bridge, host, none) are never candidates either.
      expect(report.resources?.some((r) => ['bridge', 'host', 'none'].includes(r.name))).toBe(false);
    } finally {
      await blind.close();
      await proxy.close();
    }
  });
}));
