/**
 * The fleet budget's accounting in host-reap.ts (S4 extended): what a host gives back after its
 * command must never be less than what the agent may have removed. The store and the agent are
 * in-memory fakes; createHostReaper, its retries and the FleetBudget are the real ones.
 */
import { describe, expect, it } from 'vitest';
import type { Identity, ReapReport, ReapRequest, ReapResult } from '../../lib/agent-contract.js';
import { DEFAULT_REAP_SETTINGS } from '../../functions/reaper/config.js';
import { FleetBudget } from '../../functions/reaper/fleet-budget.js';
import { createHostReaper, type HostReapDeps, type RunContext } from '../../functions/reaper/host-reap.js';
import type { Host } from '../../functions/store/schemas.js';
import { AgentCallError, type AgentClient } from '../../lib/agent-client.js';
import { silentLogger } from '../../lib/logger.js';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const MASTER = 'ab'.repeat(32);

/** An agent of an older build: it has no GET /v1/reaps/:runId, so nothing can be asked after a lost answer. */
const noRecovery = async (): Promise<never> => {
  throw new AgentCallError('error', 'agent refused (404 not_found): no route for GET /v1/reaps/x', 404, 'not_found');
};

function setup(reap: (request: ReapRequest) => Promise<ReapReport>, reapResult: (runId: string) => Promise<ReapResult> = noRecovery) {
  const host: Host = { hostId: 'h1', agentUrl: 'https://agent.invalid:7070', enabled: true, engineId: 'engine-1', createdAt: new Date(T0).toISOString(), updatedAt: new Date(T0).toISOString() };
  const identity = (): Identity => ({ hostId: 'h1', engineId: 'engine-1', clockOffsetMs: 0, agentTimeMs: Date.now(), anchor: `v1.${Date.now()}.${'0'.repeat(64)}` });
  const client = { identity: async () => identity(), reap: async (request: ReapRequest) => reap(request), reapResult: async (runId: string) => reapResult(runId) } as unknown as AgentClient;
  const store = {
    tracked: { readTracked: async () => ({ refs: [], pages: 1, items: 0, expired: 0 }) },
    quarantine: { list: async () => [], apply: async () => undefined },
    reports: { putReport: async () => ({}) },
    hosts: { recordLastReap: async () => true },
  } as unknown as HostReapDeps['store'];
  const reaper = createHostReaper({ store, settings: { ...DEFAULT_REAP_SETTINGS, agentAttempts: 3 }, agentClient: () => client, now: Date.now, random: () => 0, logger: silentLogger() });
  const budget = new FleetBudget(10);
  const abort = new AbortController();
  const ctx: RunContext = {
    runId: 'run-budget-1',
    trigger: 'schedule',
    startedAt: new Date().toISOString(),
    dryRun: false,
    force: false,
    runHosts: 1,
    workDeadline: Date.now() + 60_000,
    deadlineAt: Date.now() + 70_000,
    signal: abort.signal,
    masterKey: MASTER,
    quarantineSeconds: 600,
    budget,
  };
  return { reaper, host, ctx, budget };
}

describe('host-reap: the fleet budget after a command whose outcome is unknown', () => {
  it('a command that timed out keeps its whole grant spent', async () => {
    const { reaper, host, ctx, budget } = setup(async () => {
      throw new AgentCallError('timeout', 'agent did not answer in time');
    });
    await reaper.reapHost(host, ctx);
    expect(budget.free).toBe(0);
  });

  // The first attempt reached the agent, which started removing (up to its grant of 10), and the
  // answer was lost (unreachable: retried). The retry is refused with a 4xx before it can join
  // the run in flight — e.g. 409 anchor_expired (agent/app.ts checks the anchor before the run
  // registry), when the budget wait pushed the command near the anchor's 10 min age. host-reap.ts
  // then sets `used = 0` ("refused before it started") and gives the whole grant back, though the
  // FIRST attempt may have used all of it: the run can remove more than REAPER_FLEET_MAX_REAP.
  it('a retry refused with a 4xx after an attempt that may have run keeps the whole grant spent (was a bug: the grant went back)', async () => {
    let attempt = 0;
    const { reaper, host, ctx, budget } = setup(async () => {
      attempt++;
      if (attempt === 1) throw new AgentCallError('unreachable', 'agent at https://agent.invalid:7070 dropped the answer');
      throw new AgentCallError('error', 'agent refused (409 anchor_expired): the anchor is older than 600s; ask for a new one', 409, 'anchor_expired');
    });
    await reaper.reapHost(host, ctx);
    expect(attempt).toBe(2);
    // The agent may have removed up to the grant: none of it may be handed to other hosts.
    expect(budget.free).toBe(0);
  });

  it('a lost answer whose report is had afterwards (GET /v1/reaps/:runId) gives back what the agent did not use', async () => {
    let asked = 0;
    const { reaper, host, ctx, budget } = setup(
      async () => {
        throw new AgentCallError('timeout', 'agent did not answer in time');
      },
      async (runId) => {
        asked++;
        if (asked < 3) return { runId, status: 'running' };
        return {
          runId,
          hostId: 'h1',
          engineId: 'engine-1',
          clockOffsetMs: 0,
          status: 'ok',
          startedAt: new Date(T0).toISOString(),
          finishedAt: new Date(T0 + 1000).toISOString(),
          durationMs: 1000,
          dryRun: false,
          counts: { labelled: 4, tracked: 0, orphans: 4, young: 0, stopped: 0, removed: 3, vanished: 0, failed: 1 },
          containers: [],
        };
      },
    );
    const outcome = await reaper.reapHost(host, ctx);
    expect(outcome).toMatchObject({ status: 'ok', outcome: 'recovered', attempts: 1, counts: { removed: 3, failed: 1 } });
    expect(asked).toBe(3);
    // 3 removed + 1 failed of the grant of 10 were used; the rest goes back.
    expect(budget.free).toBe(6);
  });
});
