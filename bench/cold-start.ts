/**
 * Cold start of the reaper Lambda bundle: how long a fresh node process takes to import
 * dist/lambda/reaper/index.mjs (what Lambda's init phase pays for our code, timed inside the
 * child), the child's wall time against an empty node process in the same run (node's own boot,
 * which no build changes), and the bundle's size. Goal: import median ≤ 100 ms.
 *
 *   npm run build && npx tsx bench/cold-start.ts [bundle.mjs] [--runs 5] [--json]
 *
 * The child gets the deployed function's environment shape (NODE_OPTIONS=--enable-source-maps,
 * REAPER_* names, a region) but no credentials and no network: importing must not call out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const COLD_START_GOAL_MS = 100;

export interface ColdStartOptions {
  /** The bundle to import; defaults to dist/lambda/reaper/index.mjs of this checkout. */
  bundle?: string;
  /** Fresh processes per measurement (median taken); default 5. */
  runs?: number;
  /** NODE_OPTIONS for the children; default the deployed value, --enable-source-maps. */
  nodeOptions?: string;
}

export interface ColdStartFigures {
  bundle: string;
  /** The entry file, index.mjs. */
  bundleKB: number;
  /** Every .mjs beside it (the entry plus its chunks, some of them only loaded on demand). */
  totalKB: number;
  /** Every .map beside it. */
  sourceMapKB: number;
  runs: number;
  /** Median of the import() of the bundle, timed inside each fresh child: the figure the goal is on. */
  medianMs: number;
  /** Median wall time of `node` importing the bundle, spawn to exit. */
  wallMedianMs: number;
  /** Median wall time of an empty `node` process, spawn to exit. */
  baselineMedianMs: number;
  /** wallMedianMs - baselineMedianMs: what the bundle adds to a process. */
  overheadMs: number;
  samplesMs: number[];
  wallSamplesMs: number[];
  baselineSamplesMs: number[];
  goalMs: number;
  /** medianMs ≤ goalMs. */
  withinGoal: boolean;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (n: number) => Math.round(n * 10) / 10;

/** Bytes of the files under dir whose names end with suffix. */
function sizeOf(dir: string, suffix: string): number {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

function childEnv(nodeOptions: string): NodeJS.ProcessEnv {
  // Credentials are deliberately absent: an import that needs them is a bug worth seeing.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return {
    ...env,
    NODE_OPTIONS: nodeOptions,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK warns on Node < 22 (Lambda runs nodejs22.x); printing that is no part of a cold start.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    REAPER_TABLE_PREFIX: 'clawbox-reaper-bench-',
    REAPER_MASTER_KEY_PARAM: '/clawbox-reaper/bench/master-key',
    REAPER_REAPER_FUNCTION_NAME: 'clawbox-reaper-bench-reaper',
  };
}

/** Runs one fresh node process; returns its wall time and the import time it reports. */
function timeProcess(script: string, env: NodeJS.ProcessEnv): { wallMs: number; importMs: number } {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 30_000 });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) {
    throw new Error(`node exited with ${child.status ?? child.signal}: ${child.stderr.trim().slice(0, 2000)}`);
  }
  return { wallMs, importMs: Number(child.stdout.trim() || 0) };
}

/** Measures the cold start of a Lambda bundle; see the module comment. */
export function measureColdStart(options: ColdStartOptions = {}): ColdStartFigures {
  const bundle = resolve(options.bundle ?? resolve(repoRoot, 'dist/lambda/reaper/index.mjs'));
  const runs = options.runs ?? 5;
  if (!existsSync(bundle)) throw new Error(`${bundle} not found: run \`npm run build\` first`);
  const env = childEnv(options.nodeOptions ?? '--enable-source-maps');
  const url = pathToFileURL(bundle).href;
  // process.exit: a bundle that opens a handle at import must not stretch the figure.
  const importScript =
    `const t = performance.now(); const m = await import(${JSON.stringify(url)});` +
    `if (typeof m.handler !== 'function') throw new Error('no handler export');` +
    `process.stdout.write(String(performance.now() - t)); process.exit(0);`;
  const emptyScript = 'process.exit(0);';

  // One untimed run of each warms the page cache, as a real container's disk would be.
  timeProcess(emptyScript, env);
  timeProcess(importScript, env);
  const walls: number[] = [];
  const baseline: number[] = [];
  const imports: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, so a noisy neighbour affects both series alike.
    baseline.push(timeProcess(emptyScript, env).wallMs);
    const run = timeProcess(importScript, env);
    walls.push(run.wallMs);
    imports.push(run.importMs);
  }
  const medianMs = round(median(imports));
  const wallMedianMs = round(median(walls));
  const baselineMedianMs = round(median(baseline));
  return {
    bundle,
    bundleKB: round(statSync(bundle).size / 1024),
    totalKB: round(sizeOf(dirname(bundle), '.mjs') / 1024),
    sourceMapKB: round(sizeOf(dirname(bundle), '.map') / 1024),
    runs,
    medianMs,
    wallMedianMs,
    baselineMedianMs,
    overheadMs: round(wallMedianMs - baselineMedianMs),
    samplesMs: imports.map(round),
    wallSamplesMs: walls.map(round),
    baselineSamplesMs: baseline.map(round),
    goalMs: COLD_START_GOAL_MS,
    withinGoal: medianMs <= COLD_START_GOAL_MS,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : undefined;
  const bundle = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs');
  const figures = measureColdStart({ bundle, runs });
  if (args.includes('--json')) {
    console.log(JSON.stringify(figures, null, 2));
  } else {
    console.log(`bundle          ${figures.bundle}: ${figures.bundleKB} KB (with chunks ${figures.totalKB} KB, maps ${figures.sourceMapKB} KB)`);
    console.log(`import          median ${figures.medianMs} ms over ${figures.runs} fresh processes [${figures.samplesMs.join(', ')}]`);
    console.log(`process wall    median ${figures.wallMedianMs} ms [${figures.wallSamplesMs.join(', ')}]`);
    console.log(`empty node      median ${figures.baselineMedianMs} ms [${figures.baselineSamplesMs.join(', ')}]`);
    console.log(`bundle adds     ${figures.overheadMs} ms to a process`);
    console.log(`goal            import ≤ ${figures.goalMs} ms: ${figures.withinGoal ? 'met' : 'MISSED'}`);
  }
  process.exitCode = figures.withinGoal ? 0 : 1;
}
