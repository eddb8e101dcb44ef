/**
 * Regression (found by the agent fuzz): refusals made before the app sees a request — node's HTTP
 * parser, @hono/node-server's URL building, `Expect`, CONNECT — were bare 400/417/431s without a
 * JSON body, or no answer at all; and a refusal sent before the request body was read left a
 * kept-alive socket that node-server then destroyed under the client's next request. The agent
 * now serves through lib/serve.ts; here on a real socket with a minimal app.
 */
import type { Server } from 'node:http';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBody } from '../../lib/agent-contract.js';
import { AppError } from '../../lib/errors.js';
import { installErrorHandling } from '../../lib/http.js';
import { silentLogger } from '../../lib/logger.js';
import { serveJsonErrors } from '../../lib/serve.js';
import { sendRaw } from '../helpers/raw-http.js';

let server: Server;
let port: number;

beforeAll(async () => {
  const app = new Hono();
  installErrorHandling(app, { logger: silentLogger() });
  app.get('/ok', (c) => c.json({ ok: true }));
  // Refuses before reading the body, like the signature check does for a missing header.
  app.post('/refuse', () => {
    throw new AppError(401, 'unsigned', 'no signature');
  });
  server = await serveJsonErrors({ fetch: app.fetch, hostname: '127.0.0.1', port: 0, logger: silentLogger() });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

const req = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;

describe('every refusal is JSON, even outside the app', () => {
  it.each([
    ['an unknown method', req(['FOO /ok HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']), 400],
    ['a lowercase method', req(['get /ok HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']), 400],
    ['an invalid header name', req(['GET /ok HTTP/1.1', 'Host: 127.0.0.1', 'Bad Header: x', 'Connection: close']), 400],
    ['a control character in a header value', req(['GET /ok HTTP/1.1', 'Host: 127.0.0.1', 'X-A: a\u0001b', 'Connection: close']), 400],
    ['Content-Length with chunked', req(['POST /ok HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 5', 'Transfer-Encoding: chunked', 'Connection: close'], '0\r\n\r\n'), 400],
    ['two Content-Lengths', req(['POST /ok HTTP/1.1', 'Host: 127.0.0.1', 'Content-Length: 2', 'Content-Length: 3', 'Connection: close'], '{}'), 400],
    ['a bad chunk size', req(['POST /refuse HTTP/1.1', 'Host: 127.0.0.1', 'Transfer-Encoding: chunked', 'Connection: close'], 'zz\r\n{}\r\n0\r\n\r\n'), 400],
    ['oversized headers', req(['GET /ok HTTP/1.1', 'Host: 127.0.0.1', `X-Junk: ${'a'.repeat(20_000)}`, 'Connection: close']), 431],
    ['an invalid Host header', req(['GET /ok HTTP/1.1', 'Host: evil host', 'Connection: close']), 400],
    ['a Host header with a bad port', req(['GET /ok HTTP/1.1', 'Host: 127.0.0.1:99999', 'Connection: close']), 400],
    ['a backslash in the path', req(['GET /ok\\..\\x HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']), 400],
    ['an Expect other than 100-continue', req(['GET /ok HTTP/1.1', 'Host: 127.0.0.1', 'Expect: foo', 'Connection: close']), 417],
    ['CONNECT', req([`CONNECT 127.0.0.1:1 HTTP/1.1`, 'Host: 127.0.0.1:1']), 405],
  ])('%s', async (_name, request, status) => {
    const answer = await sendRaw(port, request);
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(ErrorBody.safeParse(JSON.parse(answer.body)).success, answer.body).toBe(true);
  });

  it('still serves well-formed requests, HTTP/1.0 without a Host included', async () => {
    expect(await sendRaw(port, req(['GET /ok HTTP/1.0']))).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(await sendRaw(port, req(['GET http://elsewhere.example/ok HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close']))).toMatchObject({ status: 200 });
  });

  it('closes the connection after a refusal that left the request body unread', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/refuse`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(response.status).toBe(401);
    expect(response.headers.get('connection')).toBe('close');
    await response.text();
    // A refusal of a body-less request keeps the connection.
    const notFound = await fetch(`http://127.0.0.1:${port}/nope`);
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('connection')).not.toBe('close');
    await notFound.text();
  });
});
