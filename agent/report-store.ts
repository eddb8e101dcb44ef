/**
 * The agent's memory of its reaps (S6, SPEC §4 `GET /v1/reaps/:runId`, `--state-dir`): every
 * report, as POST /v1/reap answered it, kept on disk so that it survives a restart, and a marker
 * for the run in flight, so that a run cut short by a crash is known as such after the restart
 * (it is never run again under the same runId, and never mistaken for one that never ran).
 *
 * Layout: `<dir>/<runId>.report.gz` (the report JSON, gzipped) and `<dir>/<runId>.running` (the
 * marker), each written atomically (a temporary file, fsync, rename, fsync of the directory),
 * mode 0600, in a directory of mode 0700. Bounded by age (every report is kept at least
 * `retentionMs`, 25 h by default, and dropped after it), by bytes on disk (`budgetBytes`, 64 MiB
 * by default: the oldest go first, even before `retentionMs`, with a warning) and by count.
 *
 * Without a directory the store keeps the same index and the reports in memory, within the same
 * bounds (the agent's behaviour before the state directory existed; tests use it).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { RunId } from '../lib/ids.js';
import type { Logger } from '../lib/logger.js';
import { MAX_ANCHOR_AGE_MS } from './anchor.js';
import { ReapReport } from '../lib/agent-contract.js';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

export const DEFAULT_STATE_BUDGET_BYTES = 64 * 1024 * 1024;
/** Reports are kept at least this long (unless the byte budget forces the oldest out), then dropped. */
export const DEFAULT_RETENTION_MS = 25 * 3600 * 1000;
export const DEFAULT_MAX_RUNS = 100_000;
/** Recent reports also kept in memory (replays without a disk read; a report whose write failed). */
export const DEFAULT_MEMORY_BYTES = 8 * 1024 * 1024;
/**
 * Nothing younger than this is dropped for the budget or the count: a retry of a run can come as
 * long as its anchor is good (MAX_ANCHOR_AGE_MS), and a forgotten run would be run again.
 */
export const MIN_KEEP_MS = MAX_ANCHOR_AGE_MS + 5 * 60 * 1000;

const REPORT_SUFFIX = '.report.gz';
const RUNNING_SUFFIX = '.running';
const TMP_MARK = '.tmp-';

export interface ReportStoreOptions {
  /** The directory; undefined keeps everything in memory only. */
  dir?: string | undefined;
  budgetBytes?: number;
  retentionMs?: number;
  maxRuns?: number;
  memoryBytes?: number;
  now?: () => number;
  logger?: Logger;
}

/** What the store knows of a run it is not running now. */
export type StoredRun = { state: 'finished'; report: ReapReport } | { state: 'interrupted' };

interface Entry {
  state: 'finished' | 'interrupted';
  /** When it was stored (epoch ms). */
  at: number;
  /** Bytes it holds: on disk, or in memory for a memory-only store. */
  bytes: number;
}

export class StateDirError extends Error {
  override name = 'StateDirError';
}

export class ReportStore {
  /** Insertion order is age order (entries are appended as they are stored; loaded ones sorted). */
  private readonly index = new Map<string, Entry>();
  private readonly memory = new Map<string, { report: ReapReport; bytes: number }>();
  private memoryUsed = 0;
  private bytesUsed = 0;
  private readonly budgetBytes: number;
  private readonly retentionMs: number;
  private readonly maxRuns: number;
  private readonly memoryBytes: number;
  private readonly now: () => number;

  private constructor(
    readonly dir: string | undefined,
    private readonly options: ReportStoreOptions,
  ) {
    this.budgetBytes = options.budgetBytes ?? DEFAULT_STATE_BUDGET_BYTES;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.maxRuns = options.maxRuns ?? DEFAULT_MAX_RUNS;
    this.memoryBytes = Math.min(options.memoryBytes ?? DEFAULT_MEMORY_BYTES, this.budgetBytes);
    this.now = options.now ?? Date.now;
  }

  /** A store in memory only. */
  static memory(options: Omit<ReportStoreOptions, 'dir'> = {}): ReportStore {
    return new ReportStore(undefined, options);
  }

  /**
   * Opens (creating it, mode 0700) the directory and loads what an earlier process left: its
   * reports, and the marker of a run it did not finish (now `interrupted`). Throws StateDirError
   * when the directory cannot be created, read or written.
   */
  static async open(options: ReportStoreOptions & { dir: string }): Promise<ReportStore> {
    const store = new ReportStore(options.dir, options);
    await store.load();
    return store;
  }

  get stats(): { runs: number; bytes: number; memoryBytes: number } {
    return { runs: this.index.size, bytes: this.bytesUsed, memoryBytes: this.memoryUsed };
  }

  has(runId: string): boolean {
    return this.index.has(runId);
  }

  /** The run's report, or `interrupted`; undefined when this store does not know the run. */
  async get(runId: string): Promise<StoredRun | undefined> {
    const entry = this.index.get(runId);
    if (!entry) return undefined;
    if (entry.state === 'interrupted') return { state: 'interrupted' };
    const cached = this.memory.get(runId);
    if (cached) return { state: 'finished', report: cached.report };
    if (this.dir === undefined) return { state: 'interrupted' };
    try {
      const text = (await gunzip(await readFile(this.path(runId, REPORT_SUFFIX)))).toString('utf8');
      const parsed = ReapReport.safeParse(JSON.parse(text));
      if (parsed.success && parsed.data.runId === runId) return { state: 'finished', report: parsed.data };
      this.options.logger?.error({ runId }, 'stored report does not match the contract; the run is known, its outcome is not');
    } catch (error) {
      this.options.logger?.error({ runId, err: error }, 'stored report could not be read; the run is known, its outcome is not');
    }
    return { state: 'interrupted' };
  }

  /**
   * Records that a run starts, before the engine is touched. With a directory, a marker that
   * cannot be written throws StateDirError: a run the agent could not recognise after a crash
   * could be run twice under one runId (S6).
   */
  async begin(runId: string): Promise<void> {
    if (this.dir === undefined) return;
    try {
      await this.writeAtomic(this.path(runId, RUNNING_SUFFIX), Buffer.from(JSON.stringify({ runId, startedAt: new Date(this.now()).toISOString() })));
    } catch (error) {
      throw new StateDirError(`cannot write to the state dir ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The run ended without a report and without touching anything (e.g. the engine did not answer): forget it. */
  async abandon(runId: string): Promise<void> {
    if (this.dir === undefined) return;
    await rm(this.path(runId, RUNNING_SUFFIX), { force: true }).catch((error: unknown) => {
      this.options.logger?.warn({ runId, err: error }, 'could not remove the run marker; after a restart the run is reported as interrupted');
    });
  }

  /**
   * Keeps a finished run's report. Never throws: a report that cannot be written is kept in
   * memory (this process replays it), and its marker makes it `interrupted` after a restart.
   */
  async finish(report: ReapReport): Promise<void> {
    const text = JSON.stringify(report);
    const runId = report.runId;
    const textBytes = Buffer.byteLength(text);
    let bytes = textBytes;
    if (this.dir !== undefined) {
      try {
        const zipped = await gzip(text);
        await this.writeAtomic(this.path(runId, REPORT_SUFFIX), zipped);
        bytes = zipped.byteLength;
        await rm(this.path(runId, RUNNING_SUFFIX), { force: true });
      } catch (error) {
        this.options.logger?.error({ runId, err: error }, 'REPORT NOT KEPT ON DISK: a retry of this run is answered from memory while it holds it, and as interrupted after a restart');
      }
    }
    this.add(runId, { state: 'finished', at: this.now(), bytes });
    this.cache(runId, report, textBytes);
    await this.evict();
  }

  private path(runId: string, suffix: string): string {
    // RunId admits only [A-Za-z0-9_-]: a run id can never name a path outside the directory.
    if (!RunId.safeParse(runId).success || this.dir === undefined) throw new Error(`not a run id: ${runId}`);
    return join(this.dir, `${runId}${suffix}`);
  }

  private cache(runId: string, report: ReapReport, bytes: number): void {
    // Memory-only: the cache is the store, bounded through the index by evict().
    if (this.dir !== undefined && bytes > this.memoryBytes) return;
    this.memory.set(runId, { report, bytes });
    this.memoryUsed += bytes;
    if (this.dir === undefined) return;
    for (const [id, cached] of this.memory) {
      if (this.memoryUsed <= this.memoryBytes) break;
      this.memory.delete(id);
      this.memoryUsed -= cached.bytes;
    }
  }

  private add(runId: string, entry: Entry): void {
    const prior = this.index.get(runId);
    if (prior) {
      this.bytesUsed -= prior.bytes;
      this.index.delete(runId);
    }
    this.index.set(runId, entry);
    this.bytesUsed += entry.bytes;
  }

  private drop(runId: string): void {
    const entry = this.index.get(runId);
    if (!entry) return;
    this.index.delete(runId);
    this.bytesUsed -= entry.bytes;
    const cached = this.memory.get(runId);
    if (cached) {
      this.memory.delete(runId);
      this.memoryUsed -= cached.bytes;
    }
  }

  /** Drops, oldest first, what is past its age, over the count, or over the byte budget. */
  private async evict(): Promise<void> {
    const nowMs = this.now();
    const victims: { runId: string; early: boolean }[] = [];
    let bytes = this.bytesUsed;
    let runs = this.index.size;
    for (const [runId, entry] of this.index) {
      const expired = nowMs - entry.at > this.retentionMs;
      if (!expired && runs <= this.maxRuns && bytes <= this.budgetBytes) break;
      // A run this young may still get a retry (its anchor is good for 10 minutes): forgetting it
      // would let that retry run it again (S6). The budget waits for it.
      if (!expired && nowMs - entry.at < MIN_KEEP_MS) break;
      victims.push({ runId, early: !expired });
      bytes -= entry.bytes;
      runs--;
    }
    if (victims.length === 0) return;
    const early = victims.filter((v) => v.early);
    if (early.length > 0) {
      this.options.logger?.warn(
        { dropped: early.length, budgetBytes: this.budgetBytes, maxRuns: this.maxRuns },
        'state dir over its budget: reports younger than the retention were dropped (oldest first); raise REAPER_AGENT_STATE_BUDGET_BYTES',
      );
    }
    for (const { runId } of victims) {
      this.drop(runId);
      if (this.dir !== undefined) {
        await Promise.all([rm(this.path(runId, REPORT_SUFFIX), { force: true }), rm(this.path(runId, RUNNING_SUFFIX), { force: true })]).catch((error: unknown) => {
          this.options.logger?.warn({ runId, err: error }, 'could not delete an evicted report');
        });
      }
    }
  }

  private async writeAtomic(path: string, data: Buffer): Promise<void> {
    const tmp = `${path}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
    const file = await open(tmp, 'wx', 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    await this.syncDir();
  }

  private async syncDir(): Promise<void> {
    if (this.dir === undefined) return;
    try {
      const handle = await open(this.dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // Some filesystems refuse fsync on a directory; the rename is still atomic.
    }
  }

  private async load(): Promise<void> {
    const dir = this.dir;
    if (dir === undefined) return;
    let names: string[];
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Reports name the containers removed: readable by the agent's user only.
      await chmod(dir, 0o700);
      names = await readdir(dir);
      // Proves the directory is writable now, not at the first reap.
      const probe = join(dir, `${TMP_MARK}probe-${process.pid}`);
      await this.writeAtomicProbe(probe);
    } catch (error) {
      throw new StateDirError(`cannot use the state dir ${dir}: ${(error as Error).message}`, { cause: error });
    }
    const found: { runId: string; entry: Entry }[] = [];
    const reports = new Set<string>();
    for (const name of names) {
      if (name.includes(TMP_MARK)) {
        // Left by a write that never completed.
        await rm(join(dir, name), { force: true }).catch(() => undefined);
        continue;
      }
      const suffix = name.endsWith(REPORT_SUFFIX) ? REPORT_SUFFIX : name.endsWith(RUNNING_SUFFIX) ? RUNNING_SUFFIX : undefined;
      if (suffix === undefined) continue;
      const runId = name.slice(0, -suffix.length);
      if (!RunId.safeParse(runId).success) continue;
      try {
        const info = await stat(join(dir, name));
        if (!info.isFile()) continue;
        if (suffix === REPORT_SUFFIX) {
          reports.add(runId);
          found.push({ runId, entry: { state: 'finished', at: info.mtimeMs, bytes: info.size } });
        } else {
          found.push({ runId, entry: { state: 'interrupted', at: info.mtimeMs, bytes: info.size } });
        }
      } catch {
        // Vanished while listing.
      }
    }
    const interrupted: string[] = [];
    found.sort((a, b) => a.entry.at - b.entry.at);
    for (const { runId, entry } of found) {
      if (entry.state === 'interrupted' && reports.has(runId)) {
        // The report was written, the marker not yet removed: the report is the outcome.
        await rm(join(dir, `${runId}${RUNNING_SUFFIX}`), { force: true }).catch(() => undefined);
        continue;
      }
      if (entry.state === 'interrupted') interrupted.push(runId);
      this.add(runId, entry);
    }
    if (interrupted.length > 0) {
      this.options.logger?.warn({ runs: interrupted.slice(0, 20) }, 'runs interrupted by the previous agent process (no report): a retry of them is refused, their outcome is unknown');
    }
    await this.evict();
  }

  private async writeAtomicProbe(path: string): Promise<void> {
    const file = await open(path, 'w', 0o600);
    await file.close();
    await rm(path, { force: true });
  }
}
