/**
 * The control plane's agent client against misbehaving agents (real HTTP servers on 127.0.0.1):
 * an endless answer is cut off at the cap instead of exhausting memory (S8).
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentCallError, createAgentClient } from '../../lib/agent-client.js';

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    // Streams far more than the client accepts; stops when the client goes away.
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (res.write(chunk)) {
        if (res.destroyed) return;
      }
    };
    res.on('drain', pump);
    res.on('close', () => res.off('drain', pump));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('agent client', () => {
  it('refuses an answer larger than its cap as a bad answer', async () => {
    const client = createAgentClient({ baseUrl: url, hostKey: Buffer.alloc(32, 1), maxAnswerBytes: 1024 * 1024 });
    const error = await client.health().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AgentCallError);
    expect((error as AgentCallError).kind).toBe('bad-answer');
    expect((error as AgentCallError).message).toContain('exceeds 1048576 bytes');
  });
});
