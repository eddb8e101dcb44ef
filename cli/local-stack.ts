/**
 * The whole system on one machine (SPEC §7): dynalite with its data on disk, the API on
 * 127.0.0.1, an agent for the local engine registered as a host with its derived key, and the
 * reaper's Lambda handler — the same code — invoked on a timer with a scheduled event.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadAgentConfig } from '../agent/config.js';
import { startAgent, type RunningAgent } from '../agent/main.js';
import { createLocalApi } from '../functions/api/local.js';
import { createReaperFromEnv } from '../functions/reaper.js';
import { loadReaperConfig, type ReaperConfig } from '../functions/reaper/config.js';
import { createStore, ensureTables } from '../functions/store/index.js';
import { HostId } from '../lib/ids.js';
import { startEmbeddedDynamo } from '../lib/embedded-dynamo.js';
import { parseListen } from '../lib/listen.js';
import { serveJsonErrors } from '../lib/serve.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { decodeKey, deriveHostKey } from '../lib/signing.js';
import { MASTER_KEY_FILE, TOKEN_FILE } from './context.js';
import { loadOrCreateSecret } from './secrets.js';


/** The data dir's subdirectory (mode 0700) that holds the store's unix socket. */
export const STORE_SOCKET_DIR = 'store';

export interface LocalStackOptions {
  dataDir: string;
  apiListen: string;
  agentListen: string;
  hostId?: string;
  intervalMs: number;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface LocalStack {
  apiUrl: string;
  agentUrl: string;
  hostId: string;
  token: string;
  tokenCreated: boolean;
  dataDir: string;
  /** The store's unix socket (only this user can connect to it). */
  storeSocket: string;
  /** The reaper's effective settings (defaults filled in). */
  settings: Readonly<ReaperConfig>;
  /** Runs one scheduled reap now (what the timer does). */
  tick(): Promise<void>;
  /** Stops the timer, lets runs in flight finish and write their reports, then closes everything. */
  close(): Promise<void>;
}

/**
 * The API's logger with its per-request lines ("request", one per call) at debug unless the
 * answer was a 4xx/5xx: on a terminal, the reap lines must not be buried under the CLI's polling.
 */
export function quietRequests(logger: Logger): Logger {
  return new Proxy(logger, {
    get(target, property, receiver) {
      if (property === 'info') {
        return (obj: unknown, ...rest: unknown[]) => {
          const status = typeof obj === 'object' && obj !== null ? (obj as { status?: unknown }).status : undefined;
          if (rest[0] === 'request' && typeof status === 'number' && status < 400) return (target.debug as (...a: unknown[]) => void)(obj, ...rest);
          return (target.info as (...a: unknown[]) => void)(obj, ...rest);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** This machine's hostname, made into a valid host id. */
export function defaultHostId(): string {
  const cleaned = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return HostId.safeParse(cleaned).success ? cleaned : 'local';
}

/** The shape of the scheduled event EventBridge delivers, as the Lambda would receive it. */
function scheduledEvent(now: Date) {
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: 'local',
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'local',
    resources: ['local:clawbox-reaper-schedule'],
    detail: {},
  };
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger({ level: env.REAPER_LOG_LEVEL ?? 'info' });
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'dynamodb'), { recursive: true, mode: 0o700 });
  const hostId = options.hostId ?? defaultHostId();
  if (!HostId.safeParse(hostId).success) throw new Error(`--host-id "${hostId}" is not a valid host id (letters, digits, . _ -)`);
  const apiAddress = parseListen(options.apiListen);

  const masterKey = env.REAPER_MASTER_KEY ? { value: env.REAPER_MASTER_KEY, created: false } : loadOrCreateSecret(dataDir, MASTER_KEY_FILE);
  decodeKey(masterKey.value, 'REAPER_MASTER_KEY');
  const token = env.REAPER_API_TOKEN ? { value: env.REAPER_API_TOKEN, created: false } : loadOrCreateSecret(dataDir, TOKEN_FILE);

  // The reaper's settings are checked before anything starts: a bad one is a usage error, said
  // before the agent or the store says anything.
  const reaperEnv = { ...env, REAPER_MASTER_KEY: masterKey.value };
  const settings = loadReaperConfig(reaperEnv);

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch((err: unknown) => logger.warn({ err }, 'error while closing'));
  };

  try {
    // The agent first: if Docker is unreachable there is nothing to run.
    // The agent's own config loader: every REAPER_* agent setting validated as for `clawbox-reaper agent`.
    const agentConfig = loadAgentConfig({ hostId, listen: options.agentListen, stateDir: join(dataDir, 'agent-state') }, { ...env, REAPER_AGENT_KEY: deriveHostKey(masterKey.value, hostId) });
    const agent: RunningAgent = await startAgent(agentConfig, { logger: logger.child({ component: 'agent' }) });
    closers.push(() => agent.close());

    // The store on a unix socket in a 0700 directory of the data dir, never on a TCP port: it has
    // no authentication, and whoever reaches it could untrack containers for the reaper to remove.
    const db = await startEmbeddedDynamo({ path: join(dataDir, 'dynamodb'), socketDir: join(dataDir, STORE_SOCKET_DIR) });
    closers.push(() => db.close());
    const dynamo = new DynamoDBClient({
      ...db.clientConfig(),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    closers.push(async () => dynamo.destroy());

    const { handler, config } = createReaperFromEnv({ env: reaperEnv, dynamo, logger: logger.child({ component: 'reaper' }) });
    await ensureTables(dynamo, config.tablePrefix);
    const store = createStore({ client: dynamo, prefix: config.tablePrefix, reportTtlDays: config.reportTtlDays });

    const existing = await store.hosts.get(hostId);
    if (!existing || existing.agentUrl !== agent.url) {
      await store.hosts.put(hostId, { agentUrl: agent.url, enabled: existing?.enabled ?? true, ...(existing?.maxReap === undefined ? {} : { maxReap: existing.maxReap }) });
    }

    // Runs in flight (scheduled or on demand) are awaited on shutdown so their reports are written.
    const runTimeoutMs = 5 * 60_000;
    const invoke = (event: unknown) => handler(event, { getRemainingTimeInMillis: () => runTimeoutMs }).then(() => undefined);
    const invokeRestore = (event: unknown) => handler(event, { getRemainingTimeInMillis: () => 30_000 });
    const api = createLocalApi({ store, token: token.value, logger: quietRequests(logger.child({ component: 'api' })), invoke, invokeRestore });
    // The same server wrapper as the agent: malformed HTTP gets a JSON 4xx, not a bare one.
    const apiLogger = logger.child({ component: 'api' });
    const apiServer = await serveJsonErrors({ fetch: api.app.fetch, hostname: apiAddress.host, port: apiAddress.port, logger: apiLogger });
    closers.push(async () => {
      const closed = new Promise<void>((r) => apiServer.close(() => r()));
      // Idle keep-alive connections (the dashboard's, a CLI's) would hold close() for seconds.
      (apiServer as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      await closed;
      await api.inFlight();
    });
    const apiPort = (apiServer.address() as { port: number }).port;

    let scheduled: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const tick = () => {
      scheduled = invoke(scheduledEvent(new Date())).catch((err: unknown) => logger.error({ err }, 'scheduled reap failed'));
      return scheduled;
    };
    const loop = () => {
      timer = setTimeout(() => {
        void tick().then(() => {
          if (!stopped) loop();
        });
      }, options.intervalMs);
    };
    loop();
    closers.push(async () => {
      stopped = true;
      clearTimeout(timer);
      await scheduled;
    });

    return {
      apiUrl: `http://${apiAddress.host}:${apiPort}`,
      agentUrl: agent.url,
      hostId,
      token: token.value,
      tokenCreated: token.created,
      dataDir,
      storeSocket: db.socketPath ?? '',
      settings,
      tick,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
