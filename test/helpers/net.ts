/** Loopback endpoints that fail in the ways a fleet's agents do: nothing listening, or never answering. */
import { createServer, type Socket } from 'node:net';

/** A 127.0.0.1 port that was just bound and released: connecting to it is refused. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no TCP port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${address.port}`;
}

/** A server that accepts connections and reads requests but never answers (a hung agent). */
export async function startBlackHole(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let total = 0;
  const server = createServer((socket) => {
    total++;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no TCP port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    connections: () => total,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Agents that answer only GET /v1/identity (each host its own engine, a valid anchor) and never
 * answer anything else: a fleet whose commands hang after the identity step. Host H's agent URL
 * is `${url}/h/H`.
 */
export async function startIdentityOnlyAgents(masterKey: string): Promise<{ url: string; urlFor(hostId: string): string; commands(): number; close(): Promise<void> }> {
  const { createServer: createHttpServer } = await import('node:http');
  const { issueAnchor } = await import('../../agent/anchor.js');
  const { ANSWER_SIGNATURE_HEADER, SIGNATURE_HEADER, decodeKey, deriveHostKey, signAnswer } = await import('../../lib/signing.js');
  const hung = new Set<import('node:http').ServerResponse>();
  let commands = 0;
  const server = createHttpServer((req, res) => {
    const match = /^\/h\/([^/]+)\/v1\/identity$/.exec(req.url ?? '');
    if (!match || req.method !== 'GET') {
      commands++;
      hung.add(res);
      req.resume();
      return;
    }
    const hostId = match[1] ?? '';
    const nowMs = Date.now();
    const key = decodeKey(deriveHostKey(masterKey, hostId));
    const body = JSON.stringify({ hostId, engineId: `identity-only-${hostId}`, clockOffsetMs: 0, agentTimeMs: nowMs, anchor: issueAnchor(key, nowMs, performance.now()) });
    // Signed like a real agent's answer (SPEC §4), or the control plane refuses it.
    const requestSignature = String(req.headers[SIGNATURE_HEADER] ?? '');
    res.writeHead(200, { 'content-type': 'application/json', [ANSWER_SIGNATURE_HEADER]: signAnswer(key, requestSignature, 200, body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no TCP port');
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    urlFor: (hostId) => `${url}/h/${hostId}`,
    commands: () => commands,
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
