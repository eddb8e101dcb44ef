/**
 * Cold start of the reaper Lambda bundle: wall time of a fresh node process that imports
 * dist/lambda/reaper/index.mjs (what Lambda's init phase pays for our code), against an empty
 * node process in the same run, plus the bundle's size. Goal: median ≤ 100 ms.
 *
 *   npm run build && npx tsx bench/cold-start.ts [bundle.mjs] [--runs 5] [--json]
 *
 * The child gets the deployed function's environment shape (NODE_OPTIONS=--enable-source-maps,
 * REAPER_* names, a region) but no credentials and no network: importing must not call out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
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
  bundleKB: number;
  sourceMapKB: number | null;
  runs: number;
  /** Median wall time of `node` importing the bundle, spawn to exit. */
  medianMs: number;
  /** Median wall time of an empty `node` process, spawn to exit. */
  baselineMedianMs: number;
  /** medianMs - baselineMedianMs: what the bundle itself adds. */
  overheadMs: number;
  /** Median of the import() alone, timed inside the child. */
  importMedianMs: number;
  samplesMs: number[];
  baselineSamplesMs: number[];
  goalMs: number;
  withinGoal: boolean;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (n: number) => Math.round(n * 10) / 10;

function childEnv(nodeOptions: string): NodeJS.ProcessEnv {
  // Credentials are deliberately absent: an import that needs them is a bug worth seeing.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return {
    ...env,
    NODE_OPTIONS: nodeOptions,
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
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
  const samples: number[] = [];
  const baseline: number[] = [];
  const imports: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, so a noisy neighbour affects both series alike.
    baseline.push(timeProcess(emptyScript, env).wallMs);
    const run = timeProcess(importScript, env);
    samples.push(run.wallMs);
    imports.push(run.importMs);
  }
  const mapPath = `${bundle}.map`;
  const medianMs = round(median(samples));
  const baselineMedianMs = round(median(baseline));
  return {
    bundle,
    bundleKB: round(statSync(bundle).size / 1024),
    sourceMapKB: existsSync(mapPath) ? round(statSync(mapPath).size / 1024) : null,
    runs,
    medianMs,
    baselineMedianMs,
    overheadMs: round(medianMs - baselineMedianMs),
    importMedianMs: round(median(imports)),
    samplesMs: samples.map(round),
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
    console.log(`bundle          ${figures.bundle} (${figures.bundleKB} KB, map ${figures.sourceMapKB ?? '-'} KB)`);
    console.log(`cold start      median ${figures.medianMs} ms over ${figures.runs} fresh processes [${figures.samplesMs.join(', ')}]`);
    console.log(`empty node      median ${figures.baselineMedianMs} ms [${figures.baselineSamplesMs.join(', ')}]`);
    console.log(`bundle adds     ${figures.overheadMs} ms (import() alone: median ${figures.importMedianMs} ms)`);
    console.log(`goal            ≤ ${figures.goalMs} ms: ${figures.withinGoal ? 'met' : 'MISSED'}`);
  }
  process.exitCode = figures.withinGoal ? 0 : 1;
}
