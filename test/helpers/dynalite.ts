/**
 * An in-memory dynalite on 127.0.0.1 (port 0) per test file, with the tables created, and a
 * client pointed at it. `close()` destroys the client and stops the server.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureTables, type TableNames } from '../../functions/store/tables.js';
import { startEmbeddedDynamo } from '../../lib/embedded-dynamo.js';

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
  const server = await startEmbeddedDynamo();
  const { endpoint } = server;
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
        await server.close();
      },
    };
  } catch (error) {
    client.destroy();
    await server.close();
    throw error;
  }
}
