/**
 * Serves a Hono app on node:http so that EVERY refusal is a JSON `{ error: { code, message } }`,
 * including the ones that never reach the app: requests node's HTTP parser rejects (bad framing,
 * invalid header bytes, oversized headers, unknown methods), requests @hono/node-server cannot
 * turn into a URL (invalid Host header, backslash in the path), an `Expect` other than
 * 100-continue, and CONNECT. Left to their defaults, these get a bare 400/417/431 without a body,
 * or the connection is dropped without an answer (SPEC §4: a 4xx JSON error for anything the
 * caller got wrong).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Logger } from './logger.js';

export interface ServeOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  hostname: string;
  port: number;
  logger: Logger;
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 413: 'Payload Too Large', 417: 'Expectation Failed', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error' };

const errorJson = (code: string, message: string) => JSON.stringify({ error: { code, message } });

/** A complete HTTP/1.1 answer as bytes, for sockets no ServerResponse exists for. */
function rawAnswer(status: number, code: string, message: string): string {
  const body = errorJson(code, message);
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** What a parser error code means for the caller. */
function parserRefusal(code: string | undefined): { status: number; code: string; message: string } {
  if (code === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'headers_too_large', message: 'request headers are too large' };
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return { status: 413, code: 'payload_too_large', message: 'chunk extensions are too large' };
  return { status: 400, code: 'malformed_request', message: 'the request is not valid HTTP/1.1' };
}

interface SocketWithMessage extends Duplex {
  /** Set by node while a response on this socket is under way. */
  _httpMessage?: { headersSent?: boolean } | null;
}

/** Starts listening; resolves with the server once bound. */
export async function serveJsonErrors(options: ServeOptions): Promise<Server> {
  const fetchAndClose = async (request: Request) => {
    const response = await options.fetch(request);
    // A refusal sent before the request's body was read (401 before the signature, 404, 413):
    // node-server drains the unread body for at most 500 ms and then destroys the socket. Without
    // `Connection: close` a client reusing that kept-alive socket for its next request finds it
    // closed under it ("other side closed"): say so, and the client opens a fresh one.
    if (response.status >= 400 && request.body !== null && !request.bodyUsed) response.headers.set('connection', 'close');
    return response;
  };
  const listener = getRequestListener(fetchAndClose, {
    hostname: options.hostname,
    errorHandler: (error) => {
      if (error instanceof RequestError) {
        return new Response(errorJson('malformed_request', `the request cannot be routed: ${error.message}`), { status: 400, headers: { 'content-type': 'application/json' } });
      }
      options.logger.error({ err: error }, 'unhandled error outside the app');
      return new Response(errorJson('internal', 'internal error; see the server log'), { status: 500, headers: { 'content-type': 'application/json' } });
    },
  });
  // The listener answers every request itself, errors included; nothing is left to await.
  const server = createServer((request, response) => {
    void listener(request, response);
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: SocketWithMessage) => {
    // A reset or a socket already answering cannot take an answer; just let it go.
    if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const refusal = parserRefusal(error.code);
    socket.end(rawAnswer(refusal.status, refusal.code, refusal.message));
  });

  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(417, { 'content-type': 'application/json', connection: 'close' });
    response.end(errorJson('expectation_failed', 'only "Expect: 100-continue" is supported'));
  });

  // CONNECT is never routed; without a listener node drops the connection without an answer.
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.end(rawAnswer(405, 'method_not_allowed', 'CONNECT is not supported'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
