/**
 * S6: one reap at a time per agent, and a repeated runId never reaps twice. A retry of the run in
 * flight joins it; a retry of a finished run gets the stored report; a retry of a run an earlier
 * agent process began and never finished (a crash) is refused; any other run while one is in
 * flight is refused (409).
 *
 * The memory of finished runs is a ReportStore: on disk under the state dir (it survives a
 * restart), bounded by age and bytes. `lookup` answers GET /v1/reaps/:runId from it.
 */
import { join } from 'node:path';
import { AppError, conflict, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { ReapReport } from '../lib/agent-contract.js';
import { ReportStore, StateDirError, type ReportStoreOptions } from './report-store.js';

export type RunLookup = { state: 'finished'; report: ReapReport } | { state: 'running' } | { state: 'interrupted' } | { state: 'unknown' };

export class RunRegistry {
  private inFlight: { runId: string; promise: Promise<ReapReport> } | undefined;

  /** @param store where finished runs are kept; default in memory only (64 MiB, 25 h). */
  constructor(readonly store: ReportStore = ReportStore.memory()) {}

  async run(runId: string, execute: () => Promise<ReapReport>): Promise<{ report: ReapReport; replayed: boolean }> {
    // Everything up to `this.inFlight = …` runs without a pause: two commands for one run can
    // never both get past these checks.
    if (this.store.has(runId)) return { report: await this.replay(runId), replayed: true };
    if (this.inFlight) {
      if (this.inFlight.runId === runId) return { report: await this.inFlight.promise, replayed: true };
      throw conflict('reap_in_progress', `another reap (run ${this.inFlight.runId}) is in progress on this agent; retry later`);
    }
    const promise = this.execute(runId, execute);
    this.inFlight = { runId, promise };
    try {
      return { report: await promise, replayed: false };
    } finally {
      if (this.inFlight?.promise === promise) this.inFlight = undefined;
    }
  }

  /** What this agent knows of a run (GET /v1/reaps/:runId). */
  async lookup(runId: string): Promise<RunLookup> {
    if (this.inFlight?.runId === runId) return { state: 'running' };
    const stored = await this.store.get(runId);
    return stored ?? { state: 'unknown' };
  }

  /** This run is in flight, finished or interrupted here: a command for it is a retry (S6). */
  knows(runId: string): boolean {
    return this.store.has(runId) || this.inFlight?.runId === runId;
  }

  /** Set while a reap is running, until its report is kept (graceful shutdown waits for it). */
  get busy(): Promise<unknown> | undefined {
    return this.inFlight?.promise;
  }

  private async execute(runId: string, execute: () => Promise<ReapReport>): Promise<ReapReport> {
    try {
      await this.store.begin(runId);
    } catch (error) {
      if (error instanceof StateDirError) throw unavailable('state_unwritable', `${error.message}; nothing was touched (the agent must be able to record a run before it starts it, S6)`, error);
      throw error;
    }
    let report: ReapReport;
    try {
      report = await execute();
    } catch (error) {
      // Refused or failed before the engine was changed (engine mismatch, engine unreachable):
      // the run did nothing, so a retry may run it.
      await this.store.abandon(runId);
      throw error;
    }
    // Capped by its share of the fleet budget, the run touched nothing: it is not kept, so the
    // control plane may send it again (same runId) once it holds a larger grant (S4).
    if (report.status === 'capped' && report.cap?.guard === 'fleet-max-reap') {
      await this.store.abandon(runId);
      return report;
    }
    await this.store.finish(report);
    return report;
  }

  private async replay(runId: string): Promise<ReapReport> {
    const stored = await this.store.get(runId);
    if (stored?.state === 'finished') return stored.report;
    throw new AppError(409, 'run_interrupted', `run ${runId} was started on this agent and did not finish (the agent stopped mid-reap) or its report was lost; it is not run again, and its outcome is not known here`);
  }
}

export interface OpenRunRegistryOptions {
  stateDir: string;
  hostId: string;
  budgetBytes?: number;
  /** True when the directory was chosen by default, not given: one that cannot be used then falls back to memory. */
  isDefault?: boolean;
  logger: Logger;
  storeOptions?: Omit<ReportStoreOptions, 'dir' | 'logger' | 'budgetBytes'>;
}

/**
 * The registry of an agent process: its reports under `<stateDir>/<hostId>/` (one directory per
 * host id, so two agents sharing a state dir never replay each other's runs). A state dir given
 * explicitly must be usable (StateDirError otherwise); the default one, when it cannot be used,
 * leaves the agent with a memory that does not survive a restart, said loudly in the log.
 */
export async function openRunRegistry(options: OpenRunRegistryOptions): Promise<RunRegistry> {
  const dir = join(options.stateDir, options.hostId);
  const base = { ...options.storeOptions, logger: options.logger, ...(options.budgetBytes === undefined ? {} : { budgetBytes: options.budgetBytes }) };
  try {
    const store = await ReportStore.open({ ...base, dir });
    options.logger.info({ stateDir: dir, runs: store.stats.runs, bytes: store.stats.bytes }, 'state dir opened');
    return new RunRegistry(store);
  } catch (error) {
    if (!(error instanceof StateDirError) || !options.isDefault) throw error;
    options.logger.error(
      { err: error, stateDir: dir },
      'STATE DIR UNAVAILABLE: reports are kept in memory only and are lost at a restart; give a writable --state-dir (REAPER_AGENT_STATE_DIR, or StateDirectory= in the systemd unit)',
    );
    return new RunRegistry(ReportStore.memory(base));
  }
}
