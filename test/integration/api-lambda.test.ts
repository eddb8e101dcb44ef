/**
 * The API function's real Lambda entry (functions/api.ts `handler`) invoked with literal API
 * Gateway HTTP API (payload 2.0) events, configured only through the environment the deployed
 * function gets: the DynamoDB endpoint by the SDK's own AWS_ENDPOINT_URL_DYNAMODB (dynalite), and
 * the Lambda endpoint by AWS_ENDPOINT_URL_LAMBDA, pointed at a loopback stand-in for the Lambda
 * Invoke API that runs the real reaper handler on the payload it receives.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LambdaContext, LambdaEvent } from 'hono/aws-lambda';
import { handler, createApiFromEnv } from '../../functions/api.js';
import { ApiConfigError } from '../../functions/api/config.js';
import { HostItem, ReapStarted, ReportPageBody, RunView, TrackedList } from '../../functions/api/contract.js';
import { OnDemandEvent } from '../../functions/reaper/events.js';
import { createReaperFromEnv } from '../../functions/reaper.js';
import { createStore, type Store } from '../../functions/store/index.js';
import { capturingLogger } from '../helpers/agent.js';
import { startDynalite, type TestDynamo } from '../helpers/dynalite.js';
import { closedPortUrl } from '../helpers/net.js';
import { DEPLOYED_AWS_ENV, processEnv } from '../helpers/aws-events.js';
import { startFakeLambda, type FakeLambda } from '../helpers/fake-lambda.js';

const FUNCTION_NAME = 'clawbox-reaper-test-reaper';
const MASTER = randomBytes(32).toString('hex');
const DOMAIN = 'abc123def4.execute-api.us-east-1.amazonaws.com';

let dynamo: TestDynamo;
let store: Store;
let lambda: FakeLambda;
/** A loopback port nobody listens on: hosts registered here are never reachable, and nothing leaves 127.0.0.1. */
let down: string;
const reaperLog = capturingLogger('info');
const env = processEnv();


beforeAll(async () => {
  dynamo = await startDynalite({ prefix: 'apil-' });
  down = await closedPortUrl();
  store = createStore({ client: dynamo.client, prefix: dynamo.prefix });
  const reaper = createReaperFromEnv({
    env: { REAPER_MASTER_KEY: MASTER, REAPER_TABLE_PREFIX: dynamo.prefix, REAPER_AGENT_ATTEMPTS: '1', REAPER_REPORT_MARGIN_SECONDS: '1' },
    dynamo: dynamo.client,
    logger: reaperLog.logger,
  });
  lambda = await startFakeLambda((event) => reaper.handler(event, { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'fake-invocation' }));
  // The deployed function's environment, nothing else: no endpoint or client is passed in.
  env.set({
    ...DEPLOYED_AWS_ENV,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_LAMBDA: lambda.url,
    REAPER_TABLE_PREFIX: dynamo.prefix,
    REAPER_REAPER_FUNCTION_NAME: FUNCTION_NAME,
    REAPER_LOG_LEVEL: 'error',
  });
});

afterAll(async () => {
  await Promise.allSettled(lambda?.runs ?? []);
  await lambda?.close().catch(() => undefined);
  await dynamo?.close().catch(() => undefined);
  env.restore();
});

/** An API Gateway HTTP API event, payload format 2.0, as the function receives it behind IAM auth. */
function apiEvent(method: string, rawPath: string, options: { query?: string; body?: string; base64?: boolean; headers?: Record<string, string>; route?: string } = {}) {
  const routeKey = `${method} ${options.route ?? rawPath}`;
  const query = new URLSearchParams(options.query ?? '');
  const event = {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: options.query ?? '',
    headers: {
      accept: 'application/json',
      'accept-encoding': 'gzip, deflate',
      host: DOMAIN,
      'user-agent': 'awscurl/0.36',
      'x-amz-date': '20261127T031500Z',
      'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      'x-amzn-trace-id': 'Root=1-6746a0bc-0123456789abcdef01234567',
      'x-forwarded-for': '198.51.100.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
      ...(options.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(options.body, options.base64 ? 'base64' : 'utf8')), 'content-type': 'application/json' }),
      ...options.headers,
    },
    ...(options.query ? { queryStringParameters: Object.fromEntries(query) } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123def4',
      authentication: null,
      authorizer: {
        iam: {
          accessKey: 'AKIAOPERATOREXAMPLE',
          accountId: '123456789012',
          callerId: 'AIDAOPERATOREXAMPLE',
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: 'arn:aws:iam::123456789012:user/operator',
          userId: 'AIDAOPERATOREXAMPLE',
        },
      },
      domainName: DOMAIN,
      domainPrefix: 'abc123def4',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '198.51.100.7', userAgent: 'awscurl/0.36' },
      requestId: `req-${randomBytes(6).toString('hex')}`,
      routeKey,
      stage: '$default',
      time: '27/Nov/2026:03:15:00 +0000',
      timeEpoch: Date.now(),
    },
    // API Gateway leaves `body` out when there is none.
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: options.base64 ?? false,
  };
  // The shape above is the wire event; hono's type insists on `body` even when API Gateway omits it.
  return event as unknown as LambdaEvent;
}

const context: LambdaContext = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'clawbox-reaper-test-api',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:clawbox-reaper-test-api',
  memoryLimitInMB: '256',
  awsRequestId: 'a1b2c3d4-0000-4000-8000-000000000000',
  logGroupName: '/aws/lambda/clawbox-reaper-test-api',
  logStreamName: '2026/11/27/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => 29_000,
};

async function invoke(event: LambdaEvent): Promise<{ status: number; json: unknown; headers: Record<string, unknown> }> {
  const result = await handler(event, context);
  expect(result.isBase64Encoded).toBe(false);
  const text = result.body;
  return { status: result.statusCode, json: text === '' ? undefined : (JSON.parse(text) as unknown), headers: ('headers' in result ? result.headers : {}) ?? {} };
}

const code = (json: unknown) => (json as { error?: { code?: string } } | undefined)?.error?.code;

describe('the API Lambda entry', () => {
  it('answers /healthz and the /v1 routes with no auth of its own (API Gateway did IAM)', async () => {
    const health = await invoke(apiEvent('GET', '/healthz'));
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ ok: true });
    const hosts = await invoke(apiEvent('GET', '/v1/hosts'));
    expect(hosts.status).toBe(200);
    expect(hosts.json).toEqual({ hosts: [] });
    expect(String(hosts.headers['content-type'])).toMatch(/^application\/json/);
    const missing = await invoke(apiEvent('GET', '/v1/nothing'));
    expect(missing.status).toBe(404);
    expect(code(missing.json)).toBe('not_found');
  });

  it('registers, reads and tracks through literal events; base64 bodies too', async () => {
    const put = await invoke(apiEvent('PUT', '/v1/hosts/lam-1', { route: '/v1/hosts/{hostId}', body: JSON.stringify({ agentUrl: down }) }));
    expect(put.status).toBe(200);
    expect(HostItem.parse(put.json)).toMatchObject({ hostId: 'lam-1', enabled: true });
    expect(await store.hosts.get('lam-1')).toMatchObject({ agentUrl: down });

    const encoded = Buffer.from(JSON.stringify({ agentUrl: `${down}/agent`, maxReap: 5 })).toString('base64');
    const put64 = await invoke(apiEvent('PUT', '/v1/hosts/lam-1', { route: '/v1/hosts/{hostId}', body: encoded, base64: true }));
    expect(put64.status).toBe(200);
    expect(HostItem.parse(put64.json)).toMatchObject({ agentUrl: `${down}/agent`, maxReap: 5 });

    const track = await invoke(apiEvent('PUT', '/v1/hosts/lam-1/containers/sbx-9', { route: '/v1/hosts/{hostId}/containers/{containerId}', body: JSON.stringify({ owner: 'mgr', leaseSeconds: 60 }) }));
    expect(track.status).toBe(200);
    expect(await store.tracked.get('lam-1', 'sbx-9')).toMatchObject({ owner: 'mgr' });
    const list = await invoke(apiEvent('GET', '/v1/hosts/lam-1/containers', { route: '/v1/hosts/{hostId}/containers', query: 'limit=10' }));
    expect(TrackedList.parse(list.json).items.map((i) => i.containerId)).toEqual(['sbx-9']);
    const untrack = await invoke(apiEvent('DELETE', '/v1/hosts/lam-1/containers/sbx-9', { route: '/v1/hosts/{hostId}/containers/{containerId}' }));
    expect(untrack.status).toBe(204);
    expect(await store.tracked.get('lam-1', 'sbx-9')).toBeUndefined();
  });

  it('refuses bad input with 4xx and writes nothing', async () => {
    const cases: [string, LambdaEvent, number][] = [
      ['path trick', apiEvent('PUT', '/v1/hosts/..%2Fetc', { body: JSON.stringify({ agentUrl: 'http://127.0.0.1:9' }) }), 400],
      ['markup id', apiEvent('PUT', '/v1/hosts/lam-2/containers/%3Cimg%20src%3Dx%3E', { body: '{}' }), 400],
      ['unknown field', apiEvent('PUT', '/v1/hosts/lam-2', { body: JSON.stringify({ agentUrl: 'http://127.0.0.1:9', root: true }) }), 400],
      ['wrong type', apiEvent('PUT', '/v1/hosts/lam-2', { body: JSON.stringify({ agentUrl: 'http://127.0.0.1:9', enabled: 'true' }) }), 400],
      ['not JSON', apiEvent('PUT', '/v1/hosts/lam-2', { body: '{"agentUrl"' }), 400],
      ['content type', apiEvent('PUT', '/v1/hosts/lam-2', { body: JSON.stringify({ agentUrl: 'http://127.0.0.1:9' }), headers: { 'content-type': 'text/plain' } }), 415],
      ['too large', apiEvent('PUT', '/v1/hosts/lam-2', { body: JSON.stringify({ agentUrl: `http://127.0.0.1:9/${'a'.repeat(1_100_000)}` }) }), 413],
      ['unknown query', apiEvent('GET', '/v1/reports', { query: 'hostId=lam-1&sort=asc' }), 400],
      ['bad cursor', apiEvent('GET', '/v1/reports', { query: 'cursor=bm9wZQ' }), 400],
    ];
    for (const [name, event, status] of cases) {
      const answer = await invoke(event);
      expect(answer.status, `${name}: ${JSON.stringify(answer.json)}`).toBe(status);
      expect(code(answer.json), name).toBeDefined();
    }
    expect(await store.hosts.get('lam-2')).toBeUndefined();
    expect((await store.tracked.list('lam-2')).items).toEqual([]);
  });

  it('POST /v1/reaps invokes the reaper asynchronously with its on-demand event; the run is then visible and done', async () => {
    await store.hosts.put('lam-down', { agentUrl: down, enabled: true });
    const before = lambda.invocations.length;
    const start = await invoke(apiEvent('POST', '/v1/reaps', { body: JSON.stringify({ hosts: ['lam-down'], force: true }) }));
    expect(start.status).toBe(202);
    const { runId, hosts } = ReapStarted.parse(start.json);
    expect(hosts).toEqual(['lam-down']);

    expect(lambda.invocations.length).toBe(before + 1);
    const invocation = lambda.invocations[before];
    expect(invocation?.functionName).toBe(FUNCTION_NAME);
    expect(invocation?.invocationType).toBe('Event');
    // Exactly the reaper's on-demand event, which it parses strictly.
    expect(invocation?.payload).toEqual({ runId, startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/), hosts: ['lam-down'], force: true });
    expect(OnDemandEvent.safeParse(invocation?.payload).success).toBe(true);

    await Promise.all(lambda.runs);
    const view = await invoke(apiEvent('GET', `/v1/reaps/${runId}`, { route: '/v1/reaps/{runId}' }));
    expect(view.status).toBe(200);
    const run = RunView.parse(view.json);
    expect(run.done).toBe(true);
    expect(run.reports).toHaveLength(1);
    expect(run.reports[0]).toMatchObject({ hostId: 'lam-down', runId, trigger: 'api', status: 'unreachable', force: true });

    const trail = await invoke(apiEvent('GET', '/v1/reports', { query: 'hostId=lam-down&limit=5' }));
    expect(trail.status).toBe(200);
    expect(ReportPageBody.parse(trail.json).items.map((r) => r.runId)).toEqual([runId]);
  });

  it('without host names, the event carries none (the reaper takes every enabled host itself)', async () => {
    const before = lambda.invocations.length;
    const start = await invoke(apiEvent('POST', '/v1/reaps', { body: JSON.stringify({ dryRun: true }) }));
    expect(start.status).toBe(202);
    const { runId, hosts } = ReapStarted.parse(start.json);
    expect(hosts).toEqual(['lam-1', 'lam-down']);
    expect(lambda.invocations[before]?.payload).toEqual({ runId, startedAt: expect.any(String), dryRun: true });
    await Promise.all(lambda.runs);
    const run = RunView.parse((await invoke(apiEvent('GET', `/v1/reaps/${runId}`))).json);
    expect(run.done).toBe(true);
    expect(run.reports.map((r) => r.hostId)).toEqual(['lam-1', 'lam-down']);
  });

  it('answers 503 reap_not_started when the invocation is refused, and queues nothing', async () => {
    const before = lambda.invocations.length;
    lambda.failWith = { status: 404, type: 'ResourceNotFoundException' };
    try {
      const start = await invoke(apiEvent('POST', '/v1/reaps', { body: JSON.stringify({ hosts: ['lam-1'] }) }));
      expect(start.status).toBe(503);
      expect(code(start.json)).toBe('reap_not_started');
    } finally {
      lambda.failWith = undefined;
    }
    expect(lambda.invocations.length).toBe(before);
  });

  it('refuses to start on an incomplete configuration, naming every problem', () => {
    let error: unknown;
    try {
      createApiFromEnv({ env: { REAPER_REPORT_TTL_DAYS: 'ninety', REAPER_TABLE_PREFIX: 'bad prefix!' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiConfigError);
    expect(String(error)).toMatch(/REAPER_REAPER_FUNCTION_NAME/);
    expect(String(error)).toMatch(/REAPER_REPORT_TTL_DAYS/);
    expect(String(error)).toMatch(/REAPER_TABLE_PREFIX/);
  });
});
