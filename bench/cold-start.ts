/**
 * Cold start of the Lambda bundles: for each handler's bundle (dist/lambda/reaper, which serves
 * the `reaper` planner and the `reaperWorker` functions, and dist/lambda/api), what importing it
 * adds to a fresh node process: the child's wall time (spawn to exit) minus an empty node
 * process's, medians, all series interleaved in one run. Goal: ≤ COLD_START_GOAL_MS per bundle.
 *
 * Also timed, inside the children: the import() itself, and import + the first handler call
 * (separate processes, so they do not stretch the wall figures). Everything a handler builds
 * (config, clients, schemas it parses with) is built on that first call, so this figure shows
 * what a cold start costs in all, and whether a change at import only moved the work. The first
 * calls reach no network: the reaper gets an event that is not a run (it builds the handler,
 * refuses the event, logs why), the API gets GET /healthz (it builds the app and answers).
 *
 *   npm run build && npx tsx bench/cold-start.ts [--runs 7] [--node-options "--enable-source-maps"] [--json]
 *
 * The children get the deployed functions' environment shape (REAPER_* names, a region) but no
 * credentials and no network, and no NODE_OPTIONS unless asked (deployed functions set none).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './stats.js';

/** The most a handler bundle's import may add to an empty node process (wall, medians). */
export const COLD_START_GOAL_MS = 35;

export const LAMBDA_BUNDLES = ['reaper', 'api'] as const;
export type LambdaBundle = (typeof LAMBDA_BUNDLES)[number];

export interface ColdStartOptions {
  /** Where the bundles are: <dir>/<name>/index.mjs; default dist/lambda of this checkout. */
  lambdaDir?: string;
  /** Fresh processes per series (median taken); default 7. */
  runs?: number;
  /** NODE_OPTIONS for the children; default none, as deployed. */
  nodeOptions?: string;
}

export interface BundleFigures {
  name: LambdaBundle;
  bundle: string;
  /** The entry file, index.mjs. */
  bundleKB: number;
  /** Every .mjs the entry imports statically (itself included): what a cold start compiles. */
  staticKB: number;
  /** Every .mjs beside it (the entry plus its chunks, most of them only loaded on demand). */
  totalKB: number;
  /** Every .map beside it. */
  sourceMapKB: number;
  /** Median wall time of `node` importing the bundle, spawn to exit. */
  wallMedianMs: number;
  /** wallMedianMs − the empty process's median: what the bundle adds. The goal is on this. */
  overheadMs: number;
  /** Median CPU time (user + system) of the importing process minus the empty one's: steadier than wall on a busy machine. */
  cpuOverheadMs: number;
  /** Median of the import() alone, timed inside the child. */
  importMedianMs: number;
  /** Median of import() + the first handler call, timed inside the child. */
  firstCallMedianMs: number;
  wallSamplesMs: number[];
  cpuSamplesMs: number[];
  importSamplesMs: number[];
  firstCallSamplesMs: number[];
  /** overheadMs ≤ goalMs. */
  withinGoal: boolean;
}

export interface ColdStartFigures {
  runs: number;
  nodeOptions: string;
  /** Median wall time of an empty `node` process, spawn to exit. */
  baselineMedianMs: number;
  baselineSamplesMs: number[];
  /** Median CPU time of the empty process. */
  baselineCpuMedianMs: number;
  goalMs: number;
  bundles: BundleFigures[];
  /** Every bundle within the goal. */
  withinGoal: boolean;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

const round = (n: number) => Math.round(n * 10) / 10;
const kb = (bytes: number) => round(bytes / 1024);

/** Bytes of the files under dir whose names end with suffix. */
function sizeOf(dir: string, suffix: string): number {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/** Bytes of the entry and every chunk it imports statically (esbuild's `import … from "./chunks/…"`). */
function staticSize(entry: string): number {
  const seen = new Set<string>();
  const pending = [entry];
  let bytes = 0;
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    bytes += Buffer.byteLength(text);
    // Static imports only: `import"./x.mjs"` and `import{…}from"./x.mjs"`, never `import("./x.mjs")`.
    for (const m of text.matchAll(/\bimport\s*(?:[\w$*{][^;"'()]*?from\s*)?["'](\.\.?\/[^"']+\.mjs)["']/g)) pending.push(resolve(dirname(file), m[1]!));
  }
  return bytes;
}

function childEnv(nodeOptions: string): NodeJS.ProcessEnv {
  // Credentials are deliberately absent: an import or a first call that needs them is a bug worth seeing.
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK warns on Node < 22 (Lambda runs nodejs22.x); printing that is no part of a cold start.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    REAPER_TABLE_PREFIX: 'clawbox-reaper-bench-',
    REAPER_LOG_LEVEL: 'info',
    REAPER_MASTER_KEY_PARAM: '/clawbox-reaper/bench/master-key',
    REAPER_WORKER_FUNCTION: 'clawbox-reaper-bench-reaperWorker',
    REAPER_METRICS: 'emf',
    REAPER_REAPER_FUNCTION_NAME: 'clawbox-reaper-bench-reaper',
  };
}

const MARK = '@@cold-start ';

/** Runs one fresh node process; returns its wall time and the figures it reports after MARK. */
function timeProcess(script: string, env: NodeJS.ProcessEnv): { wallMs: number; figures: number[] } {
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 30_000 });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) {
    throw new Error(`node exited with ${child.status ?? child.signal}: ${(child.stderr + child.stdout).trim().slice(0, 2000)}`);
  }
  const line = child.stdout.split('\n').find((l) => l.startsWith(MARK));
  return { wallMs, figures: line ? (JSON.parse(line.slice(MARK.length)) as number[]) : [] };
}

/** The first call of each handler: no network, and it must end the way it is meant to. */
const FIRST_CALL: Record<LambdaBundle, string> = {
  // Not a run, a shard or a restore: the handler is built (config, clients, store) and refuses it.
  reaper:
    `let refused; try { await m.handler({ bench: 'not a run' }, { getRemainingTimeInMillis: () => 60000, awsRequestId: 'bench' }); }` +
    ` catch (e) { refused = e; } if (refused?.name !== 'InvalidEventError') throw new Error('first call: expected InvalidEventError, got ' + (refused?.stack ?? 'success'));`,
  // GET /healthz through API Gateway's HTTP API event (payload 2.0): the app is built and answers.
  api:
    `const path = '/healthz'; const r = await m.handler({ version: '2.0', routeKey: 'GET ' + path, rawPath: path, rawQueryString: '',` +
    ` headers: { host: 'bench.example', accept: 'application/json' }, isBase64Encoded: false, requestContext: { accountId: '123456789012',` +
    ` apiId: 'bench', domainName: 'bench.example', domainPrefix: 'bench', http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1',` +
    ` userAgent: 'bench' }, requestId: 'bench', routeKey: 'GET ' + path, stage: '$default', time: '01/Dec/2026:00:00:00 +0000', timeEpoch: 0 } }, {});` +
    ` if (r?.statusCode !== 200) throw new Error('first call: expected 200 from /healthz, got ' + JSON.stringify(r));`,
};

/** Measures the cold start of every Lambda bundle; see the module comment. */
export function measureColdStart(options: ColdStartOptions = {}): ColdStartFigures {
  const lambdaDir = resolve(options.lambdaDir ?? resolve(repoRoot, 'dist/lambda'));
  const runs = options.runs ?? 7;
  const nodeOptions = options.nodeOptions ?? '';
  const env = childEnv(nodeOptions);
  // Every child reports its own CPU time (user + system, all threads) as its last figure.
  const cpu = 'Object.values(process.cpuUsage()).reduce((a, b) => a + b) / 1000';
  const emptyScript = `process.stdout.write('${MARK}' + JSON.stringify([${cpu}]) + '\\n'); process.exit(0);`;
  const series = LAMBDA_BUNDLES.map((name) => {
    const bundle = join(lambdaDir, name, 'index.mjs');
    if (!existsSync(bundle)) throw new Error(`${bundle} not found: run \`npm run build\` first`);
    const url = JSON.stringify(pathToFileURL(bundle).href);
    const load = `const t = performance.now(); const m = await import(${url}); const imported = performance.now() - t;` + `if (typeof m.handler !== 'function') throw new Error('no handler export');`;
    // process.exit: a bundle (or a first call) that leaves a handle open must not stretch the figure.
    const report = (figures: string) => `process.stdout.write('\\n${MARK}' + JSON.stringify(${figures}) + '\\n'); process.exit(0);`;
    return {
      name,
      bundle,
      importScript: `${load} ${report(`[imported, ${cpu}]`)}`,
      firstCallScript: `${load} ${FIRST_CALL[name]} ${report('[imported, performance.now() - t]')}`,
      walls: [] as number[],
      cpus: [] as number[],
      imports: [] as number[],
      firstCalls: [] as number[],
    };
  });

  // One untimed run of each warms the page cache, as a real container's disk would be.
  timeProcess(emptyScript, env);
  for (const s of series) {
    timeProcess(s.importScript, env);
    timeProcess(s.firstCallScript, env);
  }
  const baseline: number[] = [];
  const baselineCpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Interleaved, so a noisy neighbour affects every series alike.
    const empty = timeProcess(emptyScript, env);
    baseline.push(empty.wallMs);
    baselineCpu.push(empty.figures[0] ?? Number.NaN);
    for (const s of series) {
      const run = timeProcess(s.importScript, env);
      s.walls.push(run.wallMs);
      s.imports.push(run.figures[0] ?? Number.NaN);
      s.cpus.push(run.figures[1] ?? Number.NaN);
      s.firstCalls.push(timeProcess(s.firstCallScript, env).figures[1] ?? Number.NaN);
    }
  }
  const baselineMedianMs = round(median(baseline));
  const baselineCpuMedianMs = round(median(baselineCpu));
  const bundles = series.map((s): BundleFigures => {
    const wallMedianMs = round(median(s.walls));
    const overheadMs = round(wallMedianMs - baselineMedianMs);
    return {
      name: s.name,
      bundle: s.bundle,
      bundleKB: kb(statSync(s.bundle).size),
      staticKB: kb(staticSize(s.bundle)),
      totalKB: kb(sizeOf(dirname(s.bundle), '.mjs')),
      sourceMapKB: kb(sizeOf(dirname(s.bundle), '.map')),
      wallMedianMs,
      overheadMs,
      cpuOverheadMs: round(median(s.cpus) - baselineCpuMedianMs),
      importMedianMs: round(median(s.imports)),
      firstCallMedianMs: round(median(s.firstCalls)),
      wallSamplesMs: s.walls.map(round),
      cpuSamplesMs: s.cpus.map(round),
      importSamplesMs: s.imports.map(round),
      firstCallSamplesMs: s.firstCalls.map(round),
      withinGoal: overheadMs <= COLD_START_GOAL_MS,
    };
  });
  return {
    runs,
    nodeOptions,
    baselineMedianMs,
    baselineSamplesMs: baseline.map(round),
    baselineCpuMedianMs,
    goalMs: COLD_START_GOAL_MS,
    bundles,
    withinGoal: bundles.every((b) => b.withinGoal),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const valueOf = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const runs = valueOf('--runs') === undefined ? undefined : Number(valueOf('--runs'));
  const figures = measureColdStart({
    ...(runs === undefined ? {} : { runs }),
    ...(valueOf('--lambda-dir') === undefined ? {} : { lambdaDir: valueOf('--lambda-dir') }),
    ...(valueOf('--node-options') === undefined ? {} : { nodeOptions: valueOf('--node-options') }),
  });
  if (args.includes('--json')) {
    console.log(JSON.stringify(figures, null, 2));
  } else {
    console.log(`empty node      median ${figures.baselineMedianMs} ms [${figures.baselineSamplesMs.join(', ')}], CPU ${figures.baselineCpuMedianMs} ms; NODE_OPTIONS=${figures.nodeOptions || '(none)'}`);
    for (const b of figures.bundles) {
      console.log(`${b.name.padEnd(6)}          ${b.bundle}: ${b.bundleKB} KB, ${b.staticKB} KB loaded at import (all chunks ${b.totalKB} KB, maps ${b.sourceMapKB} KB)`);
      console.log(`  adds          ${b.overheadMs} ms to a process (wall median ${b.wallMedianMs} ms [${b.wallSamplesMs.join(', ')}]): goal ≤ ${figures.goalMs} ms ${b.withinGoal ? 'met' : 'MISSED'}`);
      console.log(`  adds CPU      ${b.cpuOverheadMs} ms [${b.cpuSamplesMs.join(', ')}]`);
      console.log(`  import        median ${b.importMedianMs} ms [${b.importSamplesMs.join(', ')}]`);
      console.log(`  + first call  median ${b.firstCallMedianMs} ms [${b.firstCallSamplesMs.join(', ')}]`);
    }
  }
  process.exitCode = figures.withinGoal ? 0 : 1;
}
