/**
 * A loopback stand-in for the Lambda Invoke API (POST /2015-03-31/functions/{name}/invocations on
 * 127.0.0.1), pointed at by AWS_ENDPOINT_URL_LAMBDA: the SDK's real client talks to it. An 'Event'
 * invocation is answered 202 and then run (as Lambda queues it); `decide` may refuse one with a
 * Lambda error, or deliver it twice (Lambda's at-least-once delivery).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Invocation {
  functionName: string;
  invocationType: string | undefined;
  payload: unknown;
}

export type Delivery = 'once' | 'twice' | { status: number; type: string };

export interface FakeLambda {
  url: string;
  invocations: Invocation[];
  /** The runs started by queued invocations (each settles with its result or its error). */
  runs: Promise<unknown>[];
  /** When set, every Invoke is answered with this Lambda error instead of being queued. */
  failWith: { status: number; type: string } | undefined;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeLambda(runEvent: (event: unknown) => Promise<unknown>, decide: (invocation: Invocation) => Delivery = () => 'once'): Promise<FakeLambda> {
  const fake: FakeLambda = { url: '', invocations: [], runs: [], failWith: undefined, close: () => Promise.resolve() };
  const server: Server = createServer((request, response) => {
    void (async () => {
      const body = await readBody(request);
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(new URL(request.url ?? '/', 'http://x').pathname);
      if (request.method !== 'POST' || !match?.[1]) {
        response.writeHead(404, { 'content-type': 'application/json', 'x-amzn-errortype': 'UnknownOperationException' }).end('{"message":"unknown operation"}');
        return;
      }
      const invocation: Invocation = {
        functionName: decodeURIComponent(match[1]),
        invocationType: request.headers['x-amz-invocation-type'] as string | undefined,
        payload: JSON.parse(body),
      };
      const delivery = fake.failWith ?? decide(invocation);
      if (typeof delivery === 'object') {
        response
          .writeHead(delivery.status, { 'content-type': 'application/json', 'x-amzn-errortype': delivery.type })
          .end(JSON.stringify({ Type: 'User', message: `${delivery.type} (injected by the test)` }));
        return;
      }
      fake.invocations.push(invocation);
      // Queued: 202 at once; the function runs afterwards, as Lambda does for an 'Event' invocation.
      response.writeHead(202, { 'content-type': 'application/json', 'x-amzn-requestid': 'fake' }).end();
      fake.runs.push(runEvent(invocation.payload).catch((error: unknown) => error));
      if (delivery === 'twice') fake.runs.push(runEvent(invocation.payload).catch((error: unknown) => error));
    })().catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no TCP port');
  fake.url = `http://127.0.0.1:${address.port}`;
  fake.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return fake;
}
