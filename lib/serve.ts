/**
 * Serves a Hono app on node:http so that EVERY refusal is a JSON `{ error: { code, message } }`,
 * including the ones that never reach the app: requests node's HTTP parser rejects (bad framing,
 * invalid header bytes, oversized headers, unknown methods), requests @hono/node-server cannot
 * turn into a URL (invalid Host header, backslash in the path), an `Expect` other than
 * 100-continue, and CONNECT. Left to their defaults, these get a bare 400/417/431 without a body,
 * or the connection is dropped without an answer (SPEC §4: a 4xx JSON error for anything the
 * caller got wrong).
 *
 * And every caller gets its answer: a refusal made before the request's body was read (401
 * before the signature, 404, 413, 415 …) is answered, then the rest of the body is read and thrown
 * away for a bounded time before the connection is closed (answerThenDrain). An `Expect:
 * 100-continue` request is invited to send its body only once the app starts reading it, and
 * `maxConnections` caps the connections held open at once.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Logger } from './logger.js';

export interface ServeOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  hostname: string;
  port: number;
  logger: Logger;
  /** Serve HTTPS with this certificate (chain) and key, PEM; with `requestCert`, only clients whose certificate `ca` issued. */
  tls?: ServeTls;
  /** Connections open at once (server.maxConnections): past it, new ones are closed at once. Default: no cap. */
  maxConnections?: number;
}

export interface ServeTls {
  cert: string;
  key: string;
  ca?: string;
  requestCert?: boolean;
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

/** After an early refusal: how long the rest of the request's body is read (and thrown away) before the connection is closed. */
export const DRAIN_MS = 1_000;
/** ... and how many bytes of it at most (checked every DRAIN_METER_MS). Nothing drained is kept: this bounds time and bandwidth, not memory. */
export const DRAIN_BYTES = 16 * 1024 * 1024;

const DRAIN_METER_MS = 20;

const draining = new WeakSet<Socket>();

/** Ends the connection once what was written to it is flushed (the drain's DRAIN_MS timer destroys it regardless). */
function closeWhenFlushed(socket: Socket): void {
  if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

/**
 * An answer written while the request's body is still arriving (an early refusal: the app did not
 * read it, or stopped at the body limit) goes out with `Connection: close`. Left to node, the
 * connection is then destroyed as soon as the answer is flushed, resetting it while the caller is
 * still sending: its next write fails (EPIPE/ECONNRESET) and it may never read the answer (a
 * 12 MiB body to an unknown route got EPIPE instead of its 404). Instead, after the answer the
 * sending side is closed (FIN) and the rest of the body is read and discarded until the request
 * ends or the caller closes, for at most DRAIN_MS and DRAIN_BYTES; then the connection is closed.
 */
function answerThenDrain(request: IncomingMessage, response: ServerResponse): void {
  const writeHead = response.writeHead;
  response.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (!request.complete) {
      // node then writes `Connection: close` and, once the answer is written, calls socket.destroySoon().
      this.shouldKeepAlive = false;
      lingerOnClose(request);
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

function lingerOnClose(request: IncomingMessage): void {
  const socket = request.socket as Socket;
  if (draining.has(socket)) return;
  draining.add(socket);
  let started = false;
  socket.destroySoon = () => {
    if (started) return;
    started = true;
    socket.end();
    // Whatever happens below, the connection is gone DRAIN_MS after the answer (a caller that
    // neither sends nor reads holds it no longer).
    const hardStop = setTimeout(() => socket.destroy(), DRAIN_MS);
    hardStop.unref();
    socket.once('close', () => clearTimeout(hardStop));
    if (request.readableEnded) return closeWhenFlushed(socket);
    // node's parser reads and discards the rest of the body (node dumped the request when the
    // answer finished); what it reads is metered on the socket's byte count (a 'data' listener
    // would take the socket from the parser and stall it).
    const readBefore = socket.bytesRead;
    const meter = setInterval(() => {
      if (socket.bytesRead - readBefore > DRAIN_BYTES) socket.destroy();
    }, DRAIN_METER_MS);
    meter.unref();
    socket.once('close', () => clearInterval(meter));
    // The whole body arrived: nothing more is expected on this connection.
    request.once('end', () => closeWhenFlushed(socket));
    request.resume();
  };
}

/** Starts listening; resolves with the server once bound (an https.Server when `tls` is given). */
export async function serveJsonErrors(options: ServeOptions & { tls: ServeTls }): Promise<HttpsServer>;
export async function serveJsonErrors(options: ServeOptions): Promise<Server>;
export async function serveJsonErrors(options: ServeOptions): Promise<Server> {
  // Always a promise: the answer is written on a later tick, after node's parser has seen the
  // whole of what arrived with the headers (a malformed body framing is then answered as such).
  const listener = getRequestListener(async (request: Request) => options.fetch(request), {
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
  const handle: RequestListener = (request, response) => {
    answerThenDrain(request, response);
    void listener(request, response);
  };
  const { tls } = options;
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca }), requestCert: tls.requestCert === true, rejectUnauthorized: tls.requestCert === true }, handle)
    : createServer(handle);
  if (options.maxConnections !== undefined) server.maxConnections = options.maxConnections;

  // `Expect: 100-continue`: node would invite the body before the app saw the request. Invited
  // only when the app starts reading it (after the signature verified); a refusal comes first.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    request.once('resume', () => {
      if (!response.headersSent) response.writeContinue();
    });
    handle(request, response);
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
