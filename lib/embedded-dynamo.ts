/**
 * An embedded DynamoDB-compatible server (dynalite) on 127.0.0.1, for the local stack (data on
 * disk) and the tests (in memory). It listens on a loopback port because the AWS SDK speaks HTTP.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';

type DynaliteFactory = (options: { path?: string; createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;
// dynalite is CommonJS without type declarations; typed here at the one place it is loaded.
const dynalite: DynaliteFactory = createRequire(import.meta.url)('dynalite');

export interface EmbeddedDynamo {
  /** http://127.0.0.1:<port>, for the SDK client's `endpoint`. */
  endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite on a free loopback port; `path` keeps its LevelDB data on disk, else in memory. */
export async function startEmbeddedDynamo(options: { path?: string } = {}): Promise<EmbeddedDynamo> {
  // Tables are usable at once: no simulated CREATING state.
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('dynalite did not bind a TCP port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
