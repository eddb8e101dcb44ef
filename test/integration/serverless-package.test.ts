/**
 * `serverless package` (osls) of the real serverless.yml and infra/, offline: no AWS credentials,
 * no login, no network. The Lambda bundles are built into a temp service dir (dist/ is left
 * alone), packaged there, and the CloudFormation template and zips are checked against SPEC §3/§6
 * and the least-privilege rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAY_INDEX_ATTRIBUTES, tableDefinitions, tableNames, ttlAttributes } from '../../functions/store/tables.js';
import { loadReaperConfig } from '../../functions/reaper/config.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const missing = ['functions/reaper.ts', 'functions/api.ts'].filter((f) => !existsSync(join(root, f)));
const STAGE = 'ci';
const SERVICE = 'clawbox-reaper';
const PREFIX = `${SERVICE}-${STAGE}-`;

// ---- template shapes (only what is asserted) ----
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Resource {
  Type: string;
  Properties: Record<string, Json>;
  DeletionPolicy?: string;
}
interface Template {
  Resources: Record<string, Resource>;
}
interface Statement {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: Json;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, Json>>;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Runs a command under coreutils `timeout`, so a hung packager can never hang the suite. */
function run(cmd: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; seconds: number }) {
  const started = Date.now();
  const result = spawnSync('timeout', ['-k', '5', String(options.seconds), cmd, ...args], {
    cwd: options.cwd,
    env: options.env,
    encoding: 'utf8',
    timeout: (options.seconds + 10) * 1000,
  });
  const output = `${result.stdout}\n${result.stderr}`.trim();
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}${result.status === 124 ? ' (timed out)' : ''}:\n${output}`);
  }
  return { output, ms: Date.now() - started };
}

/** The environment of an offline packager: no credentials, profile, telemetry or notifications. */
function offlineEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AWS_|SLS_|SERVERLESS_)/.test(k)) env[k] = v;
  }
  return {
    ...env,
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_TRACKING_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    SLS_DEPRECATION_DISABLE: '*',
    CI: '1',
  };
}

/** File names in a zip, read from its central directory (no unzip binary needed). */
function zipEntries(file: string): string[] {
  const buf = readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip (no end of central directory)`);
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(at) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${n}`);
    const nameLength = buf.readUInt16LE(at + 28);
    const extraLength = buf.readUInt16LE(at + 30);
    const commentLength = buf.readUInt16LE(at + 32);
    names.push(buf.toString('utf8', at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

const getAtt = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const indexArn = (table: string, index: string) => ({ 'Fn::Join': ['', [getAtt(table), `/index/${index}`]] });

describe.skipIf(missing.length > 0)(`serverless package (offline)${missing.length ? ` — skipped: ${missing.join(' and ')} not written yet` : ''}`, () => {
  let work: string;
  let template: Template;
  let packageMs = 0;

  const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const resource = (id: string) => {
    const r = template.Resources[id];
    if (!r) throw new Error(`no resource ${id} in the template; have: ${Object.keys(template.Resources).join(', ')}`);
    return r;
  };
  const statements = (): Array<{ role: string; statement: Statement }> =>
    resources('AWS::IAM::Role').flatMap(([role, r]) =>
      asArray(r.Properties.Policies as unknown as Array<{ PolicyDocument: { Statement: Statement[] } }>).flatMap((p) =>
        p.PolicyDocument.Statement.map((statement) => ({ role, statement })),
      ),
    );

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'clawbox-sls-'));
    const service = join(work, 'service');
    // The service dir holds exactly what serverless.yml reads: itself, infra/ and the bundles.
    cpSync(join(root, 'serverless.yml'), join(service, 'serverless.yml'));
    cpSync(join(root, 'infra'), join(service, 'infra'), { recursive: true });
    run(process.execPath, [join(root, 'scripts/build.mjs'), '--outdir', join(service, 'dist'), '--lambda-only'], { cwd: root, env: process.env, seconds: 120 });
    const osls = join(root, 'node_modules/osls/bin/serverless.js');
    const out = join(work, 'package');
    const packaged = run(process.execPath, [osls, 'package', '--stage', STAGE, '--region', 'us-east-1', '--package', out], {
      cwd: service,
      env: offlineEnv(work),
      seconds: 180,
    });
    packageMs = packaged.ms;
    template = JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  }, 330_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packages within a minute', () => {
    expect(packageMs).toBeLessThan(60_000);
  });

  it('deploys both functions as arm64 nodejs22.x from the prebuilt bundles', () => {
    for (const [id, handler] of [
      ['ReaperLambdaFunction', 'dist/lambda/reaper/index.handler'],
      ['ApiLambdaFunction', 'dist/lambda/api/index.handler'],
    ] as const) {
      const fn = resource(id).Properties;
      expect(fn.Handler).toBe(handler);
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Architectures).toEqual(['arm64']);
    }
  });

  it('runs the reaper every minute by default, one run at a time', () => {
    const rules = resources('AWS::Events::Rule').map(([, r]) => r.Properties);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatchObject({ ScheduleExpression: 'rate(1 minute)', State: 'ENABLED', Targets: [{ Arn: getAtt('ReaperLambdaFunction') }] });
    const reaper = resource('ReaperLambdaFunction').Properties;
    expect(reaper.ReservedConcurrentExecutions).toBe(1);
    expect(reaper.Timeout).toBeGreaterThanOrEqual(60);
  });

  it('sends a failed asynchronous reaper invocation to a dead-letter queue only the reaper may send to', () => {
    // The planner's and the worker's (the worker's retries are checked with its environment below).
    const configs = resources('AWS::Lambda::EventInvokeConfig')
      .map(([, r]) => r.Properties)
      .filter((c) => JSON.stringify(c.FunctionName) === JSON.stringify({ Ref: 'ReaperLambdaFunction' }));
    expect(resources('AWS::Lambda::EventInvokeConfig')).toHaveLength(2);
    expect(configs).toHaveLength(1);
    expect(configs[0]).toMatchObject({
      FunctionName: { Ref: 'ReaperLambdaFunction' },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 900,
      DestinationConfig: { OnFailure: { Destination: getAtt('ReaperDeadLetterQueue') } },
    });
    const queues = resources('AWS::SQS::Queue');
    expect(queues.map(([id]) => id)).toEqual(['ReaperDeadLetterQueue']);
    expect(queues[0]![1].Properties).toMatchObject({ QueueName: `${PREFIX}reaper-failed`, MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
    const sqs = statements().filter(({ statement }) => asArray(statement.Action).some((a) => a.startsWith('sqs:')));
    expect(sqs.map(({ role }) => role)).toEqual(['ReaperRole']);
    expect(sqs[0]!.statement.Action).toEqual(['sqs:SendMessage']);
    expect(sqs[0]!.statement.Resource).toEqual([getAtt('ReaperDeadLetterQueue')]);
  });

  it('creates an alert topic the reaper alone may publish to, and points the reaper at it (issue 11)', () => {
    const topics = resources('AWS::SNS::Topic');
    expect(topics.map(([id]) => id)).toEqual(['AlertTopic']);
    expect(topics[0]![1].Properties).toMatchObject({ TopicName: `${PREFIX}alerts` });
    const reaperEnv = (resource('ReaperLambdaFunction').Properties.Environment as { Variables: Record<string, Json> }).Variables;
    expect(reaperEnv.REAPER_ALERT_TOPIC_ARN).toEqual({ Ref: 'AlertTopic' });
    expect(reaperEnv).toMatchObject({ REAPER_ALERT_FAILURE_STREAK: '3', REAPER_METRICS: 'emf', REAPER_METRICS_STAGE: STAGE });
    const apiEnv = (resource('ApiLambdaFunction').Properties.Environment as { Variables: Record<string, Json> }).Variables;
    expect(apiEnv.REAPER_ALERT_TOPIC_ARN).toBeUndefined();
    const sns = statements().filter(({ statement }) => asArray(statement.Action).some((a) => a.startsWith('sns:')));
    expect(sns.map(({ role }) => role)).toEqual(['ReaperRole']);
    expect(sns[0]!.statement.Action).toEqual(['sns:Publish']);
    expect(sns[0]!.statement.Resource).toEqual([{ Ref: 'AlertTopic' }]);
    // The failure streak is kept in the host's lastReap: the reaper never reads the reports.
    const reportReads = statements().filter(({ role, statement }) => role === 'ReaperRole' && asArray(statement.Action).includes('dynamodb:Query') && JSON.stringify(statement.Resource).includes('ReportsTable'));
    expect(reportReads).toEqual([]);
  });

  it('alarms on each function’s errors, throttles and duration near its timeout, and on the dead-letter queue, all to the topic', () => {
    const alarms = resources('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties);
    for (const alarm of alarms) expect(alarm.AlarmActions, String(alarm.AlarmName)).toEqual([{ Ref: 'AlertTopic' }]);
    const find = (namespace: string, metric: string, dimension: Json) =>
      alarms.filter((a) => a.Namespace === namespace && a.MetricName === metric && JSON.stringify(a.Dimensions).includes(JSON.stringify(dimension)));
    for (const [fn, id] of [
      ['reaper', 'ReaperLambdaFunction'],
      ['reaperWorker', 'ReaperWorkerLambdaFunction'],
      ['api', 'ApiLambdaFunction'],
    ] as const) {
      const ref = { Ref: id };
      for (const metric of ['Errors', 'Throttles']) {
        const found = find('AWS/Lambda', metric, ref);
        expect(found, `${fn} ${metric}`).toHaveLength(1);
        expect(found[0]).toMatchObject({ Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      }
      const duration = find('AWS/Lambda', 'Duration', ref);
      expect(duration, `${fn} Duration`).toHaveLength(1);
      const timeoutMs = (resource(id).Properties.Timeout as number) * 1000;
      expect(duration[0]!.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      expect(duration[0]!.Threshold).toBe(timeoutMs * 0.8);
    }
    const dlq = find('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { 'Fn::GetAtt': ['ReaperDeadLetterQueue', 'QueueName'] });
    expect(dlq).toHaveLength(1);
    expect(dlq[0]).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    expect(alarms).toHaveLength(10);
  });

  it('points the functions at the stack tables, the master key parameter and the reaper', () => {
    const reaperEnv = (resource('ReaperLambdaFunction').Properties.Environment as { Variables: Record<string, Json> }).Variables;
    const apiEnv = (resource('ApiLambdaFunction').Properties.Environment as { Variables: Record<string, Json> }).Variables;
    for (const env of [reaperEnv, apiEnv]) {
      expect(env.REAPER_TABLE_PREFIX).toBe(PREFIX);
      // Source maps only when asked for (a function's own NODE_OPTIONS): they cost every cold start.
      expect(env.NODE_OPTIONS).toBeUndefined();
    }
    expect(reaperEnv).toMatchObject({
      REAPER_MASTER_KEY_PARAM: `/${SERVICE}/${STAGE}/master-key`,
      REAPER_GRACE_SECONDS: '120',
      REAPER_STOP_TIMEOUT_SECONDS: '5',
      REAPER_MAX_REAP: '100',
      REAPER_HOST_CONCURRENCY: '32',
      REAPER_REPORT_TTL_DAYS: '90',
      REAPER_MAX_REAP_PERCENT: '50',
      REAPER_FLEET_MAX_REAP: '1000',
      REAPER_QUARANTINE_SECONDS: '600',
      REAPER_LEASE_SKEW_SECONDS: '60',
      REAPER_AGENT_TIMEOUT_SECONDS: '60',
    });
    // The deployed defaults are a configuration the reaper accepts (e.g. S12: call limit < grace).
    const strings = Object.fromEntries(Object.entries(reaperEnv).filter((e): e is [string, string] => typeof e[1] === 'string'));
    expect(() => loadReaperConfig(strings)).not.toThrow();
    expect(apiEnv.REAPER_REAPER_FUNCTION_NAME).toEqual({ Ref: 'ReaperLambdaFunction' });
    // SPEC §10: the planner sends shards to the worker, which runs the same bundle with the same settings.
    const worker = resource('ReaperWorkerLambdaFunction').Properties;
    expect(reaperEnv.REAPER_WORKER_FUNCTION).toBe(worker.FunctionName);
    expect((worker.Environment as { Variables: Record<string, Json> }).Variables).toEqual(reaperEnv);
    expect(worker.Handler).toBe(resource('ReaperLambdaFunction').Properties.Handler);
    expect(worker.Role).toEqual(getAtt('ReaperRole'));
    const invokeConfigs = resources('AWS::Lambda::EventInvokeConfig').map(([, r]) => r.Properties);
    const workerConfig = invokeConfigs.find((c) => JSON.stringify(c.FunctionName).includes('ReaperWorker'));
    expect(workerConfig).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120, DestinationConfig: { OnFailure: { Destination: getAtt('ReaperDeadLetterQueue') } } });
  });

  it('declares the six tables of SPEC §3, §10, S10 and S11 with keys, GSIs, TTL, PITR and SSE', () => {
    const tables = Object.fromEntries(resources('AWS::DynamoDB::Table').map(([id, r]) => [id, r]));
    expect(Object.keys(tables).sort()).toEqual(['EnginesTable', 'HostsTable', 'QuarantineTable', 'ReportsTable', 'RunsTable', 'TrackedTable']);
    for (const table of Object.values(tables)) {
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
      expect(table.DeletionPolicy).toBe('Retain');
    }
    expect(tables.HostsTable!.Properties).toMatchObject({ TableName: `${PREFIX}hosts`, KeySchema: [{ AttributeName: 'hostId', KeyType: 'HASH' }] });
    expect(tables.TrackedTable!.Properties).toMatchObject({
      TableName: `${PREFIX}tracked`,
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'containerId', KeyType: 'RANGE' },
      ],
      // Tracked items expire some time after their lease (they protect nothing by then); stored lean, TTL in `x`.
      TimeToLiveSpecification: { AttributeName: 'x', Enabled: true },
    });
    expect(tables.EnginesTable!.Properties).toMatchObject({ TableName: `${PREFIX}engines`, KeySchema: [{ AttributeName: 'engineId', KeyType: 'HASH' }] });
    expect(tables.QuarantineTable!.Properties).toMatchObject({
      TableName: `${PREFIX}quarantine`,
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'dockerId', KeyType: 'RANGE' },
      ],
    });
    const reports = tables.ReportsTable!.Properties;
    expect(reports).toMatchObject({
      TableName: `${PREFIX}reports`,
      KeySchema: [
        { AttributeName: 'hostId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    // Lean indexes (SPEC §10): only the day listing, copying a summary, never the container list.
    expect(reports.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'day-index',
        KeySchema: [
          { AttributeName: 'day', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...DAY_INDEX_ATTRIBUTES] },
      },
    ]);
    expect(tables.RunsTable!.Properties).toMatchObject({
      TableName: `${PREFIX}runs`,
      KeySchema: [
        { AttributeName: 'runId', KeyType: 'HASH' },
        { AttributeName: 'part', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('declares the same keys and indexes as the local table definitions (functions/store/tables.ts)', () => {
    // The store creates the tables from tableDefinitions() locally; AWS must get the same shape.
    const gsis = (list: unknown) =>
      asArray(list as Array<{ IndexName?: string; KeySchema?: unknown; Projection?: unknown }> | undefined)
        .map(({ IndexName, KeySchema, Projection }) => ({ IndexName, KeySchema, Projection }))
        .sort((a, b) => String(a.IndexName).localeCompare(String(b.IndexName)));
    const attributes = (list: unknown) =>
      [...asArray(list as Array<{ AttributeName?: string }> | undefined)].sort((a, b) => String(a.AttributeName).localeCompare(String(b.AttributeName)));
    for (const local of tableDefinitions(PREFIX)) {
      const cfn = resources('AWS::DynamoDB::Table').find(([, r]) => r.Properties.TableName === local.TableName);
      expect(cfn, `no CloudFormation table named ${local.TableName}`).toBeDefined();
      const props = cfn![1].Properties;
      expect(props.KeySchema).toEqual(local.KeySchema);
      expect(attributes(props.AttributeDefinitions)).toEqual(attributes(local.AttributeDefinitions));
      expect(gsis(props.GlobalSecondaryIndexes)).toEqual(gsis(local.GlobalSecondaryIndexes));
    }
    // TTL cannot be created through dynalite (no UpdateTimeToLive): the stack must declare exactly the TTLs the store writes.
    const names = tableNames(PREFIX);
    for (const table of Object.keys(names) as (keyof typeof names)[]) {
      const cfn = resources('AWS::DynamoDB::Table').find(([, r]) => r.Properties.TableName === names[table]);
      const attribute = ttlAttributes[table];
      expect(cfn?.[1].Properties.TimeToLiveSpecification, `TTL of ${names[table]}`).toEqual(attribute === undefined ? undefined : { AttributeName: attribute, Enabled: true });
    }
  });

  it('routes exactly the API of SPEC §6 and the dashboard, every route IAM-authorised', () => {
    const routes = resources('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(
      [
        'GET /v1/hosts',
        'GET /v1/hosts/{hostId}',
        'PUT /v1/hosts/{hostId}',
        'DELETE /v1/hosts/{hostId}',
        'GET /v1/hosts/{hostId}/containers',
        'PUT /v1/hosts/{hostId}/containers/{containerId}',
        'DELETE /v1/hosts/{hostId}/containers/{containerId}',
        'POST /v1/hosts/{hostId}/containers/{containerId}/restore',
        'POST /v1/reaps',
        'GET /v1/reaps/{runId}',
        'GET /v1/reports',
        'GET /v1/reports/{hostId}/{runId}',
        'GET /dashboard',
        'GET /dashboard/{proxy+}',
      ].sort(),
    );
    for (const route of routes) expect(route.AuthorizationType, String(route.RouteKey)).toBe('AWS_IAM');
  });

  it('gives each function its own role and no IAM statement a wildcard action or a bare * resource', () => {
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
    expect(resource('ReaperLambdaFunction').Properties.Role).toEqual(getAtt('ReaperRole'));
    expect(resource('ApiLambdaFunction').Properties.Role).toEqual(getAtt('ApiRole'));
    const all = statements();
    expect(all.length).toBeGreaterThan(0);
    for (const { role, statement } of all) {
      const where = `${role}: ${JSON.stringify(statement)}`;
      expect(statement.Effect, where).toBe('Allow');
      expect(statement.NotAction, where).toBeUndefined();
      expect(statement.NotResource, where).toBeUndefined();
      for (const action of asArray(statement.Action)) expect(action, where).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
      for (const res of asArray(statement.Resource)) expect(res, where).not.toBe('*');
    }
    // Managed policies would sidestep all of the above.
    for (const [, r] of resources('AWS::IAM::Role')) expect(r.Properties.ManagedPolicyArns).toBeUndefined();
    expect(resources('AWS::IAM::Policy')).toEqual([]);
    expect(resources('AWS::IAM::ManagedPolicy')).toEqual([]);
  });

  it('scopes DynamoDB to the named tables and indexes, Invoke to the reaper, SSM to the one parameter', () => {
    const allowed = [
      getAtt('HostsTable'),
      getAtt('TrackedTable'),
      getAtt('ReportsTable'),
      getAtt('EnginesTable'),
      getAtt('QuarantineTable'),
      getAtt('RunsTable'),
      indexArn('ReportsTable', 'day-index'),
    ].map((r) => JSON.stringify(r));
    const all = statements();
    const services = (s: Statement) => new Set(asArray(s.Action).map((a) => a.split(':')[0]));
    for (const { role, statement } of all) {
      // One service per statement keeps each statement's resources meaningful.
      expect(services(statement).size, `${role}: ${JSON.stringify(statement)}`).toBe(1);
    }
    const dynamo = all.filter(({ statement }) => services(statement).has('dynamodb'));
    expect(dynamo.length).toBeGreaterThan(0);
    for (const { role, statement } of dynamo) {
      for (const res of asArray(statement.Resource)) expect(allowed, `${role}: ${JSON.stringify(res)}`).toContain(JSON.stringify(res));
    }
    const invoke = all.filter(({ statement }) => services(statement).has('lambda'));
    expect(invoke.map(({ role }) => role).sort()).toEqual(['ApiRole', 'ReaperRole']);
    for (const { statement } of invoke) expect(statement.Action).toEqual(['lambda:InvokeFunction']);
    expect(invoke.find(({ role }) => role === 'ApiRole')!.statement.Resource).toEqual([getAtt('ReaperLambdaFunction')]);
    // The planner invokes the worker function, by its name, and nothing else.
    const dispatch = JSON.stringify(invoke.find(({ role }) => role === 'ReaperRole')!.statement.Resource);
    expect(dispatch).toContain(`:function:${SERVICE}-${STAGE}-reaperWorker"`);
    expect(asArray(invoke.find(({ role }) => role === 'ReaperRole')!.statement.Resource)).toHaveLength(1);

    const ssm = all.filter(({ statement }) => services(statement).has('ssm'));
    expect(ssm.map(({ role }) => role)).toEqual(['ReaperRole']);
    expect(ssm[0]!.statement.Action).toEqual(['ssm:GetParameter']);
    expect(JSON.stringify(ssm[0]!.statement.Resource)).toContain(`:parameter/${SERVICE}/${STAGE}/master-key"`);
    for (const { statement } of all.filter(({ statement }) => services(statement).has('kms'))) {
      expect(statement.Condition?.StringEquals?.['kms:ViaService']).toBeDefined();
      expect(JSON.stringify(statement.Condition?.StringEquals?.['kms:EncryptionContext:PARAMETER_ARN'])).toContain(`:parameter/${SERVICE}/${STAGE}/master-key"`);
    }
  });

  it('grants every DynamoDB call the store makes, on the table it makes it on', () => {
    // A call the roles do not allow only fails on AWS (AccessDenied), never locally on dynalite.
    const actionOf: Record<string, string> = {
      Get: 'dynamodb:GetItem',
      Put: 'dynamodb:PutItem',
      Update: 'dynamodb:UpdateItem',
      Delete: 'dynamodb:DeleteItem',
      Query: 'dynamodb:Query',
      Scan: 'dynamodb:Scan',
      BatchWrite: 'dynamodb:BatchWriteItem',
      BatchGet: 'dynamodb:BatchGetItem',
      TransactWrite: 'dynamodb:TransactWriteItems',
      TransactGet: 'dynamodb:TransactGetItems',
    };
    const calls = /\bnew (Get|Put|Update|Delete|Query|Scan|BatchWrite|BatchGet|TransactWrite|TransactGet)(?:Item)?Command\b|\bpaginate(Query|Scan)\(/g;
    const granted = (table: string) =>
      new Set(
        statements()
          .filter(({ statement }) => asArray(statement.Resource).some((r) => JSON.stringify(r) === JSON.stringify(getAtt(table))))
          .flatMap(({ statement }) => asArray(statement.Action)),
      );
    const storeDir = join(root, 'functions/store');
    for (const [file, table] of [
      ['hosts.ts', 'HostsTable'],
      ['tracked.ts', 'TrackedTable'],
      ['reports.ts', 'ReportsTable'],
      ['engines.ts', 'EnginesTable'],
      ['quarantine.ts', 'QuarantineTable'],
      ['runs.ts', 'RunsTable'],
    ] as const) {
      const used = new Set([...readFileSync(join(storeDir, file), 'utf8').matchAll(calls)].map((m) => actionOf[m[1] ?? m[2] ?? '']));
      expect(used.size, `no DynamoDB call found in functions/store/${file}`).toBeGreaterThan(0);
      for (const action of used) expect([...granted(table)], `functions/store/${file} uses ${action}; grant it in infra/iam.yml`).toContain(action);
    }
    // Any other store module that talks to DynamoDB would escape the check above.
    const others = readdirSync(storeDir).filter((f) => f.endsWith('.ts') && !['hosts.ts', 'tracked.ts', 'reports.ts', 'engines.ts', 'quarantine.ts', 'runs.ts'].includes(f));
    for (const f of others) expect([...readFileSync(join(storeDir, f), 'utf8').matchAll(calls)].map((m) => m[0]), `functions/store/${f}`).toEqual([]);
  });

  it('grants each function exactly its DynamoDB actions on the engines and quarantine tables (S10, S11)', () => {
    const actionsOn = (role: string, table: string) =>
      statements()
        .filter((s) => s.role === role && asArray(s.statement.Resource).some((r) => JSON.stringify(r) === JSON.stringify(getAtt(table))))
        .flatMap(({ statement }) => asArray(statement.Action))
        .sort();
    // Only the reaper pins (PutItem); the API reads and releases pins (repin, delete).
    expect(actionsOn('ReaperRole', 'EnginesTable')).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(actionsOn('ApiRole', 'EnginesTable')).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem']);
    for (const role of ['ReaperRole', 'ApiRole']) {
      expect(actionsOn(role, 'QuarantineTable')).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:GetItem', 'dynamodb:Query']);
    }
    // A refused pin reads the host to tell a deleted host from one bound to another engine.
    expect(actionsOn('ReaperRole', 'HostsTable')).toEqual(['dynamodb:GetItem', 'dynamodb:Scan', 'dynamodb:UpdateItem']);
  });

  it('zips only each function’s own bundle, without node_modules', () => {
    for (const fn of ['reaper', 'api']) {
      const entries = zipEntries(join(work, 'package', `${fn}.zip`));
      expect(entries).toContain(`dist/lambda/${fn}/index.mjs`);
      for (const entry of entries) expect(entry, `${fn}.zip`).toMatch(new RegExp(`^dist/lambda/${fn}/`));
      expect(entries.some((e) => e.includes('node_modules'))).toBe(false);
    }
  });
});
