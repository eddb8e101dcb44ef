/**
 * The fan-out at fleet scale against a baseline in the same run (SPEC §10, issue 12): the same
 * bench/fanout.ts shape over 10,000 simulated hosts, run by
 *   - the baseline: an earlier commit (default 0b5c6b2, before sharding and compact outcomes),
 *     checked out into a temporary git worktree and run as it was (every host removes one orphan
 *     every run: its simulator has no quiet hosts);
 *   - this checkout, bundled as Lambda runs it (scripts/bundle-fanout.mjs), on the same shape
 *     (--orphan-share 1) and on a realistic one (1 % of hosts with an orphan each run).
 * One after the other, never at once (2 cores). Prints JSON; bench/run.ts keeps it as `fanoutScale`.
 *
 *   npx tsx bench/fanout-compare.ts [--hosts 10000] [--baseline 0b5c6b2] [--quiet-share 0.01]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

export interface FanoutScaleRun {
  label: string;
  hosts: number;
  orphanShare: number;
  wallMs: number;
  reaperCpuMs: number;
  cpuPerHostMs: number;
  firstContactWallMs: number;
  statuses: Record<string, number>;
  reportsStored: number;
  dynamoCallsPerHost?: Record<string, number>;
}

export interface FanoutScaleResult {
  hosts: number;
  baselineCommit: string;
  runs: FanoutScaleRun[];
  /** Baseline CPU per host / this checkout's on the same shape. */
  cpuRatioSameShape: number;
  goalCpuPerHostMs: number;
}

function runJson(label: string, command: string, args: string[], cwd: string, orphanShare: number): FanoutScaleRun {
  process.stderr.write(`fanout-compare: ${label}: ${command} ${args.join(' ')}\n`);
  const out = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const start = out.stdout.indexOf('{');
  if (start < 0) throw new Error(`${label}: no JSON on stdout (exit ${String(out.status)})`);
  const json = JSON.parse(out.stdout.slice(start)) as Omit<FanoutScaleRun, 'label' | 'cpuPerHostMs' | 'orphanShare'> & { cpuPerHostMs?: number };
  return {
    label,
    hosts: json.hosts,
    orphanShare,
    wallMs: json.wallMs,
    reaperCpuMs: json.reaperCpuMs,
    cpuPerHostMs: json.cpuPerHostMs ?? Math.round((json.reaperCpuMs / json.hosts) * 1000) / 1000,
    firstContactWallMs: json.firstContactWallMs,
    statuses: json.statuses,
    reportsStored: json.reportsStored,
    ...(json.dynamoCallsPerHost ? { dynamoCallsPerHost: json.dynamoCallsPerHost } : {}),
  };
}

export function runFanoutCompare(options: { hosts?: number; baseline?: string; quietShare?: number } = {}): FanoutScaleResult {
  const hosts = options.hosts ?? 10_000;
  const baseline = options.baseline ?? '0b5c6b2';
  const quietShare = options.quietShare ?? 0.01;
  const dir = mkdtempSync(join(tmpdir(), 'clawbox-baseline-'));
  const worktree = join(dir, 'tree');
  try {
    execFileSync('git', ['worktree', 'add', '--detach', '--quiet', worktree, baseline], { cwd: root, stdio: 'inherit' });
    // The baseline's own lockfile is this one's ancestor; its bench needs no package this one lacks.
    if (!existsSync(join(worktree, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(worktree, 'node_modules'));
    const tsx = join(root, 'node_modules', '.bin', 'tsx');
    const runs: FanoutScaleRun[] = [];
    // Every host removes one orphan on the same shape: the fleet budget is raised to match (S4 would cap the rest).
    const budget = ['--fleet-max-reap', String(hosts)];
    runs.push(runJson(`baseline ${baseline}`, tsx, ['bench/fanout.ts', '--hosts', String(hosts), ...budget], worktree, 1));
    execFileSync(process.execPath, ['scripts/bundle-fanout.mjs'], { cwd: root, stdio: 'inherit' });
    runs.push(runJson('this checkout, same shape', process.execPath, ['dist/bench/fanout.mjs', '--hosts', String(hosts), '--orphan-share', '1', ...budget], root, 1));
    runs.push(runJson(`this checkout, ${quietShare * 100} % of hosts with an orphan`, process.execPath, ['dist/bench/fanout.mjs', '--hosts', String(hosts), '--orphan-share', String(quietShare)], root, quietShare));
    const [base, same] = runs;
    return { hosts, baselineCommit: baseline, runs, cpuRatioSameShape: Math.round(((base?.cpuPerHostMs ?? 0) / (same?.cpuPerHostMs ?? 1)) * 100) / 100, goalCpuPerHostMs: 1 };
  } finally {
    spawnSync('git', ['worktree', 'remove', '--force', worktree], { cwd: root, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = runFanoutCompare({
    ...(flag('--hosts') ? { hosts: Number(flag('--hosts')) } : {}),
    ...(flag('--baseline') ? { baseline: flag('--baseline') } : {}),
    ...(flag('--quiet-share') ? { quietShare: Number(flag('--quiet-share')) } : {}),
  });
  console.log(JSON.stringify(result, null, 2));
}
