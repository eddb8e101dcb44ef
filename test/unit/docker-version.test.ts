/**
 * Health checks that arrive together share one engine /version call (Docker execs runc and
 * docker-init to answer it: 1,000 calls cost a private engine ~6 s, measured), and nothing is cached
 * beyond that call: an engine that goes away is seen by the very next check. The engine here is a
 * stand-in HTTP server on a unix socket that counts calls and can fail on demand.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerPort } from '../../agent/docker.js';

let server: Server;
let dir: string;
const engine = { calls: 0, fail: false };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cre-ver-'));
  server = createServer((request, response) => {
    if (!request.url?.includes('/version')) {
      response.writeHead(404).end();
      return;
    }
    engine.calls++;
    setTimeout(() => {
      if (engine.fail) response.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"engine broken"}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"Version":"20.10.24"}');
    }, 50);
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 'docker.sock'), resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('DockerPort.version', () => {
  it('shares one engine call among concurrent checks, and caches nothing after it', async () => {
    const port = createDockerPort({ dockerHost: `unix://${join(dir, 'docker.sock')}`, label: 'x' });
    engine.calls = 0;
    const versions = await Promise.all(Array.from({ length: 100 }, () => port.version()));
    expect(new Set(versions)).toEqual(new Set(['20.10.24']));
    expect(engine.calls).toBe(1);
    await port.version();
    expect(engine.calls).toBe(2);

    // A failure reaches every waiting check, and the next check asks the engine again.
    engine.fail = true;
    const failed = await Promise.allSettled(Array.from({ length: 10 }, () => port.version()));
    expect(failed.every((r) => r.status === 'rejected')).toBe(true);
    expect(engine.calls).toBe(3);
    engine.fail = false;
    expect(await port.version()).toBe('20.10.24');
    expect(engine.calls).toBe(4);
  });
});
