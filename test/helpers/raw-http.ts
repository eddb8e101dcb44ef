/**
 * HTTP/1.1 on a bare TCP socket, for requests fetch and node:http refuse to send: raw bytes in the
 * path, bad Host headers, unknown methods, conflicting framing, oversized headers. Always
 * `Connection: close`-style: the answer is read until the server closes the connection.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The connection closed without any answer. */
  noAnswer?: boolean;
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const lineEnd = body.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Sends `request` as is to 127.0.0.1:port and parses the one answer. */
export function sendRaw(port: number, request: Buffer | string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      // Skip interim 1xx answers (e.g. 100 Continue) to reach the final one.
      let start = 0;
      while (/^HTTP\/1\.[01] 1\d\d /.test(all.subarray(start, start + 16).toString('latin1'))) {
        const end = all.indexOf('\r\n\r\n', start);
        if (end < 0) break;
        start = end + 4;
      }
      const headEnd = all.indexOf('\r\n\r\n', start);
      if (all.length === start || headEnd < 0) {
        resolve({ status: 0, headers: {}, body: all.toString('latin1'), noAnswer: true });
        return;
      }
      const [statusLine = '', ...headerLines] = all.subarray(start, headEnd).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = all.subarray(headEnd + 4);
      if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
      else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: body.toString('utf8') });
    });
    // No half-close after writing: node's HTTP server aborts a request whose client sent FIN
    // before the answer (httpAllowHalfOpen is off). Every request says `Connection: close`.
    socket.on('connect', () => socket.write(request));
  });
}
