/**
 * An in-memory dynalite on 127.0.0.1 (port 0) per test file, with the tables created, and a
 * client pointed at it. `close()` destroys the client and stops the server.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTables, type TableNames } from '../../functions/store/tables.js';

interface DynaliteOptions {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  path?: string;
}
type DynaliteFactory = (options: DynaliteOptions) => Server;

// dynalite is CommonJS without type declarations; typed here at the one place it is loaded.
const dynalite: DynaliteFactory = createRequire(import.meta.url)('dynalite');

export interface TestDynamo {
  endpoint: string;
  client: DynamoDBClient;
  prefix: string;
  tables: TableNames;
  /** A fresh client on the same server (e.g. to add middleware without affecting others). */
  newClient(): DynamoDBClient;
  close(): Promise<void>;
}

export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
}

export async function startDynalite(options: { prefix?: string } = {}): Promise<TestDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('dynalite did not bind a TCP port');
  const endpoint = `http://127.0.0.1:${address.port}`;
  const prefix = options.prefix ?? 'test-';
  const clients: DynamoDBClient[] = [];
  const newClient = () => {
    const c = dynamoClient(endpoint);
    clients.push(c);
    return c;
  };
  const client = newClient();
  try {
    const tables = await ensureTables(client, prefix);
    return {
      endpoint,
      client,
      prefix,
      tables,
      newClient,
      async close() {
        for (const c of clients) c.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (error) {
    client.destroy();
    server.close();
    throw error;
  }
}
