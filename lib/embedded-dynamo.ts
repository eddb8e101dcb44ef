/**
 * An embedded DynamoDB-compatible server (dynalite), for the local stack (data on disk) and the
 * tests (in memory).
 *
 * dynalite has no authentication of its own: whoever reaches it may delete tracked items, and the
 * local reaper then removes those containers. So the local stack serves it on a unix socket in a
 * directory of its own, mode 0700 (the socket itself 0600): no TCP port, and no other local user
 * can connect. The AWS SDK reaches it through an http.Agent that connects to that socket.
 * Without `socketDir` it listens on a loopback TCP port (tests, benches: their process is the only
 * user of a throwaway in-memory store).
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { Agent, type ClientRequestArgs, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

type DynaliteFactory = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
// dynalite is CommonJS without type declarations; typed here at the one place it is loaded.
const dynalite: DynaliteFactory = createRequire(import.meta.url)('dynalite');

/** The socket's file name inside `socketDir`. */
export const STORE_SOCKET = 'dynamodb.sock';
/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH = 107;

export interface EmbeddedDynamoOptions {
  /** Keeps the LevelDB data on disk here; else in memory. */
  path?: string;
  /**
   * Serve on a unix socket in this directory (created, or tightened, to mode 0700, and refused
   * unless it is this user's own directory) instead of a TCP port.
   */
  socketDir?: string;
}

/** What a DynamoDB client needs to reach the store: spread into `new DynamoDBClient({ … })`. */
export interface EmbeddedDynamoClientConfig {
  endpoint: string;
  requestHandler?: { httpAgent: Agent };
}

export interface EmbeddedDynamo {
  /** http://127.0.0.1:<port> on TCP; http://localhost on a socket (the agent ignores the host). */
  endpoint: string;
  /** The unix socket, when served on one. */
  socketPath?: string;
  /** The endpoint and, on a socket, the request handler that connects to it. */
  clientConfig(): EmbeddedDynamoClientConfig;
  close(): Promise<void>;
}

/** Connects every request to a unix socket, whatever host and port the request names. */
export class UnixSocketAgent extends Agent {
  constructor(readonly socketPath: string) {
    super({ keepAlive: true });
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex {
    const socket: Socket = createConnection({ path: this.socketPath });
    if (callback) {
      const onError = (error: Error) => callback(error, socket);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        callback(null, socket);
      });
      return socket;
    }
    return socket;
  }
}

/**
 * The socket's directory: this user's own, a real directory (not a symlink), mode 0700. An
 * existing one owned by someone else is refused rather than tightened: whoever owns it could
 * swap the socket.
 */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} must be a directory for the store's socket, not a symlink or a file`);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) throw new Error(`${dir} belongs to uid ${stat.uid}, not to this user (${uid}): refusing to serve the store from it`);
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** True when something answers on the socket (another local stack on the same data dir). */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function listenOnSocket(server: Server, socketDir: string): Promise<string> {
  privateDir(socketDir);
  const socketPath = join(socketDir, STORE_SOCKET);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new Error(`the store's socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes (the unix socket limit): use a shorter --data-dir`);
  }
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(socketPath);
  } catch {
    existing = undefined;
  }
  if (existing) {
    if (!existing.isSocket()) throw new Error(`${socketPath} exists and is not a socket: remove it`);
    if (await socketInUse(socketPath)) throw new Error(`the store at ${socketPath} is in use: is another \`clawbox-reaper local\` running on this data dir?`);
    // Left by a stack that did not stop cleanly.
    unlinkSync(socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The directory (0700) already keeps other users out; the socket's own mode says so too.
  chmodSync(socketPath, 0o600);
  return socketPath;
}

/** Starts dynalite on a unix socket in `socketDir`, or else on a free loopback port. */
export async function startEmbeddedDynamo(options: EmbeddedDynamoOptions = {}): Promise<EmbeddedDynamo> {
  // Tables are usable at once: no simulated CREATING state.
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Idle connections stay open until their client closes them. Node closes them after 5 s by
  // default, and a client that reuses one just then gets ECONNRESET ("socket hang up") on a call
  // the store never saw: the SDK retries it, a client with one attempt fails. The clients are
  // this stack's own processes (or a test's); close() still ends the idle ones.
  server.keepAliveTimeout = 0;
  const agents: Agent[] = [];
  const close = () =>
    new Promise<void>((resolve) => {
      for (const agent of agents) agent.destroy();
      server.close(() => resolve());
    });

  if (options.socketDir !== undefined) {
    const socketPath = await listenOnSocket(server, options.socketDir);
    const endpoint = 'http://localhost';
    return {
      endpoint,
      socketPath,
      clientConfig() {
        const httpAgent = new UnixSocketAgent(socketPath);
        agents.push(httpAgent);
        return { endpoint, requestHandler: { httpAgent } };
      },
      close,
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('dynalite did not bind a TCP port');
  const endpoint = `http://127.0.0.1:${address.port}`;
  return { endpoint, clientConfig: () => ({ endpoint }), close };
}
